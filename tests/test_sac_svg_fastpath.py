"""The fast update path (fused Adam called directly, compiled updates, device-side bookkeeping) computes the
same updates as the plain path: same weights and batches in, the same parameters out."""
import pytest
import torch

from algorithms.sac_svg import SACSVGConfig
from algorithms.sac_svg.graphs import HostSyncError, NoHostSync
from algorithms.sac_svg.learner import DeviceStats
from algorithms.sac_svg.optimizer import AdamStep, adam_options, clip_grad_norm, compiled_grad_norm, grad_norm
from algorithms.sac_svg.random_policy import random_transitions
from benchmarks import bench
from tests.conftest import SMALL_TASK as TASK
from tests.conftest import assert_same_run, parameters, run_updates
from tests.conftest import fastpath_learner as learner_for


@pytest.fixture(scope="module")
def data():
    return random_transitions(300, TASK)


def test_fused_adam_path_matches_the_plain_optimizer(data):
    plain = learner_for(fused_optimizer=False)
    reference = {k: v.clone() for k, v in plain.rl_module.state_dict().items()}
    before = parameters(plain)
    slow = run_updates(plain, data, reference)
    fast = run_updates(learner_for(fused_optimizer=True), data, reference)
    assert any(not torch.equal(before[n], slow[n]) for n in before if n.startswith("world_model.dynamics"))
    assert_same_run(fast, slow)


@pytest.mark.slow
def test_compiled_updates_match_eager_updates_and_compile_once_per_horizon(data):
    """The whole env step compiled (compile_updates) gives the eager parameters; it compiles one graph per actor
    horizon (the SAC-actor warm-up, then H = 2) and reuses them after a checkpoint restore."""
    eager = learner_for(fused_optimizer=False, num_seq_updates=1)  # one multi-step update: a smaller graph
    reference = {k: v.clone() for k, v in eager.rl_module.state_dict().items()}
    slow = run_updates(eager, data, reference)
    compiled = learner_for(fused_optimizer=True, compile_updates=True, num_seq_updates=1)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    fast = run_updates(compiled, data, reference)
    assert_same_run(fast, slow, start=reference)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs == 2
    compiled.set_state(compiled.get_state())
    before = parameters(compiled)
    compiled.update_from_transitions({k: v[265:275] for k, v in data.items()})
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs == 2
    assert all(not torch.equal(before[n], p) for n, p in parameters(compiled).items() if n.startswith("actor"))


def test_clip_grad_norm_matches_torch():
    grads = [torch.randn(5, 3), torch.randn(7)]
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(params, 0.5)
    clip_grad_norm(grads, 0.5, grad_norm(grads))
    for p, g in zip(params, grads):
        torch.testing.assert_close(g, p.grad)
    assert torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])) == pytest.approx(0.5, rel=1e-5)
    torch.testing.assert_close(compiled_grad_norm(grads), grad_norm(grads))


@pytest.mark.parametrize("skip", [0.0, 1.0])
def test_adam_step_for_compiled_updates_is_the_fused_step(skip):
    """AdamStep(compiled=True) takes Adam's step in foreach ops (what a compiled graph runs): the fused kernel's
    weights, moments and step count, and none of them move where the skip flag is set."""
    torch.manual_seed(0)
    weights = [torch.randn(6, 4), torch.randn(4)]
    steps = {}
    for compiled in (False, True):
        params = [torch.nn.Parameter(w.clone()) for w in weights]
        step = AdamStep(torch.optim.Adam(params, lr=1e-2, **adam_options(torch.device("cpu"), True)), compiled)
        torch.manual_seed(1)
        step.step([torch.randn_like(p) for p in params], torch.tensor(0.0))  # the first, creates Adam's state
        first = [p.detach().clone() for p in params]
        step.step([torch.randn_like(p) for p in params], torch.tensor(skip))
        assert all(torch.equal(a, p) for a, p in zip(first, params)) == bool(skip)
        steps[compiled] = [t.detach() for t in params] + [t for state in step.state for t in state]
    for fused, foreach in zip(steps[False], steps[True]):
        torch.testing.assert_close(foreach, fused)


@pytest.mark.parametrize("flags, expected", [("fpu avx2 fma", "float32"), ("fpu avx512f avx512_bf16", "bfloat16"),
                                             ("fpu amx_bf16 amx_tile", "bfloat16")])
def test_auto_world_model_dtype_is_bfloat16_only_on_native_hardware(monkeypatch, flags, expected):
    from algorithms.sac_svg import config as config_module
    monkeypatch.setattr(config_module.pathlib.Path, "read_text", lambda self: f"flags\t\t: {flags}\n")
    config = SACSVGConfig().training(world_model_dtype="auto")
    assert config.resolved_world_model_dtype == expected
    assert config._model_config_auto_includes["world_model_dtype"] == expected
    assert SACSVGConfig().world_model_dtype == "float32"  # the default, on every machine
    assert SACSVGConfig()._model_config_auto_includes["world_model_dtype"] == "float32"


def test_restored_learner_continues_exactly_like_the_original(data):
    """After set_state, the direct fused-Adam steps use the restored optimizer state, not the one they held, and
    the normalizer's float64 moments come back exactly (RLlib's round trip casts them to float32)."""
    original, restored = learner_for(), learner_for()
    original.update_from_transitions({k: v[:255] for k, v in data.items()})
    restored.update_from_transitions({k: v[:252] for k, v in data.items()})  # steps of its own, then restored
    restored.set_state(original.get_state())
    after = []
    for learner in (original, restored):
        torch.manual_seed(1)
        learner.update_from_transitions({k: v[255:265] for k, v in data.items()})
        after.append(parameters(learner))
    for name in after[0]:  # the same state and batches: the same bits (stale Adam moments move them by ~lr)
        assert torch.equal(after[1][name], after[0][name]), name
    for name in ("mean", "m2", "count"):
        restored_value, original_value = (getattr(lr.rl_module.normalizer, name) for lr in (restored, original))
        assert torch.equal(restored_value, original_value), name


# --- CUDA graphs: the updates of one env step must be capturable (graphs.py) ------------------------------

@pytest.mark.parametrize("horizon, env_steps", [(0, 300), (2, 255), (2, 300)])  # SAC; SVG(2) in and after warm-up
def test_one_env_step_of_updates_never_reads_the_device_on_the_host(data, horizon, env_steps):
    """Fixed shapes and no host reads in everything one env step runs (sampling, eq. 14, clips, the non-finite
    guard, fused Adam), so a CUDA graph can capture it; checked here on the CPU."""
    learner = learner_for(horizon=horizon)
    learner.update_from_transitions(data)  # Adam's state exists: its first step is eager, before any capture
    learner.env_steps = env_steps
    learner.target_entropy_now.fill_(learner.target_entropy())
    before = parameters(learner)
    with NoHostSync():
        learner.run_env_step_updates()
    after = parameters(learner)
    moved = {n.split(".")[0] for n in before if not torch.equal(before[n], after[n])}
    assert moved == ({"actor", "critic", "target_critic", "temperature"} | ({"world_model"} if horizon else set()))
    assert sum(learner.stats.counts.values()) > 0


def test_no_host_sync_catches_host_reads(data):
    x = torch.arange(3.0)
    for read in (lambda: x.sum().item(), lambda: bool(x.sum() > 0), lambda: x.nonzero()):
        with pytest.raises(HostSyncError), NoHostSync():
            read()
    learner = learner_for(fused_optimizer=False)  # the unfused Adam reads its skip flag on the host
    learner.update_from_transitions(data)
    with pytest.raises(HostSyncError, match="_local_scalar_dense"), NoHostSync():
        learner.run_env_step_updates()


def test_device_stats_persist_and_read_only_what_was_added():
    stats = DeviceStats()
    stats.add({"a": torch.tensor(1.0), "b": torch.tensor(4.0)})
    sums = dict(stats.sums)
    stats.add({"a": torch.tensor(3.0)})
    assert stats.read_means() == {"a": 2.0, "b": 4.0}
    stats.add({"a": torch.tensor(5.0)})
    assert stats.read_means() == {"a": 5.0}  # b held nothing since the last read
    assert all(stats.sums[k] is sums[k] for k in sums)  # the buffers a captured graph adds into stay the same
    assert stats.read_means() == {}


def test_cuda_graphs_are_refused_without_a_gpu_learner():
    config = SACSVGConfig().environment(TASK).training(cuda_graphs=True, fused_optimizer=False)
    with pytest.raises(ValueError, match=r"(?s)cuda_graphs=True needs the learner on a GPU: num_gpus_per_learner is "
                                         r"0.*cuda_graphs=True needs fused_optimizer=True"):
        config.validate()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on the development machine)")
def test_cuda_graph_updates_match_eager_updates(data):
    eager = learner_for(gpus=1)
    reference = {k: v.clone() for k, v in eager.rl_module.state_dict().items()}
    slow = run_updates(eager, data, reference)
    graphed = learner_for(gpus=1, cuda_graphs=True)
    fast = run_updates(graphed, data, reference)
    assert graphed.graphs.graphs  # replayed from a captured graph, not only warmed up
    assert_same_run(fast, slow)


def test_bench_logs_each_matrix_product_with_its_layout_and_times_it_alone():
    """The bench's floor: every product of the logged code, counted by operator and argument layout (a
    transposed weight is its own layout), timed alone on tensors of that layout."""
    x, w, b = torch.randn(8, 5), torch.randn(3, 5), torch.randn(3)
    with bench.MatrixProductLog() as log:
        torch.nn.functional.linear(x, w, b)  # addmm(b, x, w.t())
        torch.nn.functional.linear(x, w, b)
        x @ w.t().contiguous()
        torch.relu(x)
    addmm = bench.Layout(torch.Size([3]), (1,), torch.float32), bench.Layout(torch.Size([8, 5]), (5, 1), torch.float32)
    assert sorted((f.overloadpacket.__name__, n) for (f, _, _), n in log.calls.items()) == [("addmm", 2), ("mm", 1)]
    assert any(layouts[:2] == addmm and layouts[2].stride == (1, 5) for _, layouts, _ in log.calls)
    assert bench.Layout(torch.Size([2, 3]), (0, 1), torch.float32).random(torch.device("cpu")).stride() == (0, 1)
    assert bench.products_ms(log, repeats=3, device=torch.device("cpu")) > 0


def test_bf16_study_refuses_the_timing_options_it_does_not_use(monkeypatch, capsys):
    """`make bench ARGS="--bf16-study ..."` says which options it does not take instead of dropping them."""
    monkeypatch.setattr("sys.argv", ["bench.py", "--bf16-study", "--gpus", "1", "--sizes", "small", "--repeats", "3"])
    with pytest.raises(SystemExit) as exit_info:
        bench.main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(
        "error: --sizes --repeats --gpus: the bfloat16 study takes --full, --threads, --set and --out only")
