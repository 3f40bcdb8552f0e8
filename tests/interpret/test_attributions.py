"""lamina.interpret against Captum (captum.attr) on the same weights: a small CNN with ReLU,
max pooling and linear layers built in lamina and copied to PyTorch, float64 throughout
(Captum runs under torch.set_default_dtype(float64), so its quadrature nodes and noise are
float64 too). NoiseTunnel is checked with identical noise: torch.normal is replaced, for
the test, by a function returning the draws lamina made from the same seed."""

import contextlib

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from lamina import interpret
from tests.helpers import torch

try:
    import captum.attr as cattr
except ImportError:  # the comparisons skip, visibly, where captum is absent
    cattr = None

pytestmark = pytest.mark.skipif(torch is None or cattr is None, reason="captum (and torch) "
                                "not installed: Captum parity checks skipped; install with "
                                "pip install --no-deps captum")

RTOL, ATOL = 1e-10, 1e-12


def _layers(lib):
    return [lib.nn.Conv2d(1, 4, 3), lib.nn.ReLU(), lib.nn.MaxPool2d(2), lib.nn.Conv2d(4, 5, 2),
            lib.nn.ReLU(), lib.nn.Flatten(), lib.nn.Linear(20, 6), lib.nn.ReLU(),
            lib.nn.Linear(6, 3)]


@pytest.fixture(scope="module")
def nets():
    lm = nn.Sequential(*_layers(lamina)).double().eval()
    tm = torch.nn.Sequential(*_layers(torch)).double().eval()
    rng = np.random.default_rng(0)
    sd = {k: rng.normal(scale=0.6, size=tuple(v.shape)) for k, v in tm.state_dict().items()}
    lm.load_state_dict(sd)
    tm.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    x = rng.uniform(-1, 1, size=(4, 1, 8, 8))
    return lm, tm, x


@contextlib.contextmanager
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _close(ours, theirs, rtol=RTOL, atol=ATOL):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _close(o, t, rtol, atol)
        return
    assert isinstance(ours, lamina.Tensor)
    t = theirs.detach().numpy()
    assert ours.shape == t.shape
    np.testing.assert_allclose(ours.data, t, rtol=rtol, atol=atol)


def _t(a):
    return torch.tensor(a, requires_grad=True)


TARGETS = [1, [0, 2, 1, 2], np.array([2, 2, 0, 1])]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("use_abs", [True, False])
def test_saliency(nets, target, use_abs):
    lm, tm, x = nets
    ours = interpret.Saliency(lm).attribute(lamina.tensor(x), target=target, abs=use_abs)
    tt = torch.tensor(target) if isinstance(target, np.ndarray) else target
    with _float64():
        theirs = cattr.Saliency(tm).attribute(_t(x), target=tt, abs=use_abs)
    _close(ours, theirs)
    assert np.abs(ours._data).sum() > 0


def test_input_x_gradient(nets):
    lm, tm, x = nets
    ours = interpret.InputXGradient(lm).attribute(lamina.tensor(x), target=[0, 1, 2, 0])
    with _float64():
        theirs = cattr.InputXGradient(tm).attribute(_t(x), target=[0, 1, 2, 0])
    _close(ours, theirs)


@pytest.fixture
def captum_weights(monkeypatch):
    """Captum multiplies the gradients by its quadrature weights rounded to float32
    (``torch.tensor(step_sizes).float()``); lamina keeps float64 weights. For an exact
    comparison lamina is given Captum's rounded weights; ``test_..._exact_weights`` bounds
    the difference the rounding makes."""
    from lamina.interpret import integrated_gradients as ig_mod
    exact = ig_mod.approximation_parameters

    def rounded(method, n):
        steps, alphas = exact(method, n)
        return steps.astype(np.float32).astype(np.float64), alphas
    monkeypatch.setattr(ig_mod, "approximation_parameters", rounded)


@pytest.mark.parametrize("method,n_steps", [("gausslegendre", 50), ("gausslegendre", 7),
                                            ("riemann_left", 20), ("riemann_right", 20),
                                            ("riemann_middle", 20), ("riemann_trapezoid", 20)])
def test_integrated_gradients_methods_and_delta(nets, captum_weights, method, n_steps):
    lm, tm, x = nets
    ours, d = interpret.IntegratedGradients(lm).attribute(
        lamina.tensor(x), target=2, n_steps=n_steps, method=method,
        return_convergence_delta=True)
    with _float64():
        theirs, td = cattr.IntegratedGradients(tm).attribute(
            _t(x), target=2, n_steps=n_steps, method=method, return_convergence_delta=True)
    _close(ours, theirs)
    _close(d, td, atol=1e-10)


@pytest.mark.parametrize("method,n_steps", [("gausslegendre", 50), ("riemann_trapezoid", 16)])
def test_integrated_gradients_exact_weights(nets, method, n_steps):
    """With float64 weights: equal where the weights are exact in float32 (1/16), within
    the float32 rounding of the weights (2**-24 relative, times the sum of |terms|)
    otherwise; the convergence delta is no worse."""
    lm, tm, x = nets
    ours, d = interpret.IntegratedGradients(lm).attribute(
        lamina.tensor(x), target=0, n_steps=n_steps, method=method,
        return_convergence_delta=True)
    with _float64():
        theirs, td = cattr.IntegratedGradients(tm).attribute(
            _t(x), target=0, n_steps=n_steps, method=method, return_convergence_delta=True)
    if method == "riemann_trapezoid":
        _close(ours, theirs)
    else:
        bound = 2.0 ** -24 * np.abs(x) * _abs_path_gradient(lm, x, 0, method, n_steps)
        assert (np.abs(ours._data - theirs.detach().numpy()) <= bound + 1e-15).all()
    assert np.abs(d.data).max() <= np.abs(td.numpy()).max() + 1e-9


def _abs_path_gradient(lm, x, target, method, n):
    """sum_k w_k |dF/dx (a_k x)|, the scale of the weights' rounding error."""
    from lamina.interpret.integrated_gradients import approximation_parameters
    steps, alphas = approximation_parameters(method, n)
    sal = interpret.Saliency(lm)
    return sum(w * sal.attribute(lamina.tensor(a * x), target=target).data
               for w, a in zip(steps, alphas))


def test_integrated_gradients_baselines_batching_and_local(nets, captum_weights):
    lm, tm, x = nets
    base = np.random.default_rng(1).uniform(-0.2, 0.2, size=x.shape)
    ig = interpret.IntegratedGradients(lm)
    ours = ig.attribute(lamina.tensor(x), baselines=lamina.tensor(base), target=[0, 1, 2, 1],
                        n_steps=12, internal_batch_size=10)
    with _float64():
        theirs = cattr.IntegratedGradients(tm).attribute(
            _t(x), baselines=torch.tensor(base), target=[0, 1, 2, 1], n_steps=12,
            internal_batch_size=10)
        local = cattr.IntegratedGradients(tm, multiply_by_inputs=False).attribute(
            _t(x), baselines=0.3, target=1, n_steps=9)
    _close(ours, theirs)
    unbatched = ig.attribute(lamina.tensor(x), baselines=lamina.tensor(base),
                             target=[0, 1, 2, 1], n_steps=12)
    np.testing.assert_allclose(ours.data, unbatched.data, rtol=1e-12, atol=1e-14)
    _close(interpret.IntegratedGradients(lm, multiply_by_inputs=False).attribute(
        lamina.tensor(x), baselines=0.3, target=1, n_steps=9), local)



def _two_input_pair():
    class L(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(5, 4), nn.Linear(4, 3)

        def forward(self, a, b, w, shift):
            return self.fc2((self.fc1(a * b) + w * shift).tanh())

    class T(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(5, 4), torch.nn.Linear(4, 3)

        def forward(self, a, b, w, shift):
            return self.fc2((self.fc1(a * b) + w * shift).tanh())

    lm, tm = L().double(), T().double()
    rng = np.random.default_rng(3)
    sd = {k: rng.normal(size=tuple(v.shape)) for k, v in tm.state_dict().items()}
    lm.load_state_dict(sd)
    tm.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    a, b = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    w = rng.normal(size=(3, 1))
    return lm, tm, a, b, w


def test_tuple_inputs_and_additional_forward_args(captum_weights):
    lm, tm, a, b, w = _two_input_pair()
    ours, d = interpret.IntegratedGradients(lm).attribute(
        (lamina.tensor(a), lamina.tensor(b)), baselines=(0.0, 0.5), target=[2, 0, 1],
        additional_forward_args=(lamina.tensor(w), 0.7), n_steps=10,
        method="riemann_middle", internal_batch_size=7, return_convergence_delta=True)
    with _float64():
        theirs, td = cattr.IntegratedGradients(tm).attribute(
            (_t(a), _t(b)), baselines=(0.0, 0.5), target=[2, 0, 1],
            additional_forward_args=(torch.tensor(w), 0.7), n_steps=10,
            method="riemann_middle", internal_batch_size=7, return_convergence_delta=True)
    _close(ours, theirs)
    _close(d, td, atol=1e-10)
    sal = interpret.Saliency(lm).attribute((lamina.tensor(a), lamina.tensor(b)), target=1,
                                           additional_forward_args=(lamina.tensor(w), 0.7))
    with _float64():
        tsal = cattr.Saliency(tm).attribute((_t(a), _t(b)), target=1,
                                            additional_forward_args=(torch.tensor(w), 0.7))
    _close(sal, tsal)


def _noise_like_lamina(monkeypatch, seed, calls):
    """Make torch.normal return, call after call, the draws lamina's NoiseTunnel makes from
    lamina.Generator(seed): one normal(0, stdev, shape) per input per batch of samples."""
    r = lamina.Generator(seed).np
    draws = [r.normal(0.0, s, shape) for s, shape in calls]

    def fake_normal(mean, std, *args, **kwargs):
        arr = draws.pop(0)
        assert arr.shape == tuple(std.shape)
        return torch.tensor(arr) + mean
    monkeypatch.setattr(torch, "normal", fake_normal)
    return draws


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
@pytest.mark.parametrize("batch", [None, 3])
def test_noise_tunnel_with_identical_noise(nets, monkeypatch, nt_type, batch):
    lm, tm, x = nets
    n, samples, sd = x.shape[0], 7, 0.2
    parts = [samples] if batch is None else [3, 3, 1]
    ours = interpret.NoiseTunnel(interpret.Saliency(lm)).attribute(
        lamina.tensor(x), nt_type=nt_type, nt_samples=samples, nt_samples_batch_size=batch,
        stdevs=sd, target=[0, 1, 2, 0], generator=lamina.Generator(5))
    left = _noise_like_lamina(monkeypatch, 5, [(sd, (n * p,) + x.shape[1:]) for p in parts])
    with _float64():
        theirs = cattr.NoiseTunnel(cattr.Saliency(tm)).attribute(
            _t(x), nt_type=nt_type, nt_samples=samples, nt_samples_batch_size=batch,
            stdevs=sd, target=[0, 1, 2, 0])
    assert not left                      # Captum drew exactly as many times, same shapes
    _close(ours, theirs)


def test_noise_tunnel_integrated_gradients_delta(nets, monkeypatch, captum_weights):
    lm, tm, x = nets
    base = np.random.default_rng(2).uniform(-0.1, 0.1, size=x.shape)
    ours, d = interpret.NoiseTunnel(interpret.IntegratedGradients(lm)).attribute(
        lamina.tensor(x), nt_samples=3, stdevs=0.1, target=1, n_steps=8,
        baselines=lamina.tensor(base), return_convergence_delta=True,
        generator=lamina.Generator(9))
    _noise_like_lamina(monkeypatch, 9, [(0.1, (12,) + x.shape[1:])])
    with _float64():
        theirs, td = cattr.NoiseTunnel(cattr.IntegratedGradients(tm)).attribute(
            _t(x), nt_samples=3, stdevs=0.1, target=1, n_steps=8,
            baselines=torch.tensor(base), return_convergence_delta=True)
    _close(ours, theirs)
    _close(d, td, atol=1e-10)


def test_noise_tunnel_statistics_and_seed(nets):
    """Without a shared draw: seeded runs repeat, and SmoothGrad with a tiny noise is the
    plain attribution."""
    lm, _, x = nets
    nt = interpret.NoiseTunnel(interpret.Saliency(lm))
    a = nt.attribute(lamina.tensor(x), nt_samples=4, stdevs=0.3, target=0,
                     generator=lamina.Generator(1))
    b = nt.attribute(lamina.tensor(x), nt_samples=4, stdevs=0.3, target=0,
                     generator=lamina.Generator(1))
    np.testing.assert_array_equal(a.data, b.data)
    tiny = nt.attribute(lamina.tensor(x), nt_samples=3, stdevs=1e-12, target=0, abs=False)
    plain = interpret.Saliency(lm).attribute(lamina.tensor(x), target=0, abs=False)
    np.testing.assert_allclose(tiny.data, plain.data, rtol=1e-6, atol=1e-9)
    var = interpret.NoiseTunnel(interpret.Saliency(lm)).attribute(
        lamina.tensor(x), nt_type="vargrad", nt_samples=4, stdevs=0.3, target=0)
    assert (var.data >= -1e-15).all()


# Captum's occlusion rounds each summed attribution to float32 before dividing by the window
# count (``single_attrib.float() / weight``); lamina stays in float64. Hence rtol 2**-23.
OCC_RTOL = 2.0 ** -23


@pytest.mark.parametrize("window,strides,baseline,ppe", [
    ((1, 3, 3), None, None, 1),
    ((1, 3, 3), (1, 2, 2), 0.25, 4),
    ((1, 2, 3), (1, 2, 3), "tensor", 2),      # 8 - 3 not divisible by 3: a cut-off window
    ((1, 8, 8), 1, -0.5, 1),
])
def test_occlusion(nets, window, strides, baseline, ppe):
    lm, tm, x = nets
    if isinstance(baseline, str):
        baseline = np.random.default_rng(4).uniform(size=(1, 1, 8, 8))
    lb = lamina.tensor(baseline) if isinstance(baseline, np.ndarray) else baseline
    tb = torch.tensor(baseline) if isinstance(baseline, np.ndarray) else baseline
    ours = interpret.Occlusion(lm).attribute(lamina.tensor(x), sliding_window_shapes=window,
                                             strides=strides, baselines=lb,
                                             target=[2, 1, 0, 2], perturbations_per_eval=ppe)
    with _float64():
        theirs = cattr.Occlusion(tm).attribute(_t(x), sliding_window_shapes=window,
                                               strides=strides, baselines=tb,
                                               target=[2, 1, 0, 2],
                                               perturbations_per_eval=ppe)
    _close(ours, theirs, rtol=OCC_RTOL, atol=1e-300)


def test_occlusion_tuple_inputs():
    lm, tm, a, b, w = _two_input_pair()
    ours = interpret.Occlusion(lm).attribute(
        (lamina.tensor(a), lamina.tensor(b)), sliding_window_shapes=((2,), (1,)),
        strides=(2, 1), baselines=(0.0, 1.0), target=0,
        additional_forward_args=(lamina.tensor(w), 0.3))
    with _float64():
        theirs = cattr.Occlusion(tm).attribute(
            (_t(a), _t(b)), sliding_window_shapes=((2,), (1,)), strides=(2, 1),
            baselines=(0.0, 1.0), target=0, additional_forward_args=(torch.tensor(w), 0.3))
    _close(ours, theirs, rtol=OCC_RTOL, atol=1e-300)


@pytest.mark.parametrize("layer,to_input", [(0, False), (3, False), (3, True), (6, False)])
@pytest.mark.parametrize("relu,summed", [(False, True), (True, True), (False, False)])
def test_layer_grad_cam(nets, layer, to_input, relu, summed):
    lm, tm, x = nets
    ours = interpret.LayerGradCam(lm, lm[layer]).attribute(
        lamina.tensor(x), target=[1, 0, 2, 1], attribute_to_layer_input=to_input,
        relu_attributions=relu, attr_dim_summation=summed)
    with _float64():
        theirs = cattr.LayerGradCam(tm, tm[layer]).attribute(
            _t(x), target=[1, 0, 2, 1], attribute_to_layer_input=to_input,
            relu_attributions=relu, attr_dim_summation=summed)
    _close(ours, theirs)
    assert [p.grad for p in lm.parameters()] == [None] * len(list(lm.parameters()))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_layer_attribution_interpolate(nets, mode):
    lm, tm, x = nets
    cam = interpret.LayerGradCam(lm, lm[3]).attribute(lamina.tensor(x), target=0)
    ours = interpret.LayerAttribution.interpolate(cam, (8, 8), mode)
    with _float64():
        tcam = cattr.LayerGradCam(tm, tm[3]).attribute(_t(x), target=0)
        theirs = cattr.LayerAttribution.interpolate(tcam, (8, 8), mode)
    _close(ours, theirs)


@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU")     # Captum's notice
@pytest.mark.parametrize("target", [0, [2, 1, 0, 1]])
def test_guided_backprop(nets, target):
    lm, tm, x = nets
    relus = [m for m in lm.modules() if isinstance(m, nn.ReLU)]
    ours = interpret.GuidedBackprop(lm).attribute(lamina.tensor(x), target=target)
    with _float64():
        theirs = cattr.GuidedBackprop(tm).attribute(_t(x), target=target)
    _close(ours, theirs)
    assert [m for m in lm.modules() if isinstance(m, nn.ReLU)] == relus   # put back
    plain = interpret.Saliency(lm).attribute(lamina.tensor(x), target=target, abs=False)
    assert not np.allclose(plain._data, ours._data)      # the guided rule changed something


def test_bad_input_names_the_method(nets):
    lm, _, x = nets
    xt = lamina.tensor(x)
    with pytest.raises(ValueError, match="Saliency.attribute: target=None needs one output"):
        interpret.Saliency(lm).attribute(xt)
    with pytest.raises(ValueError, match="IntegratedGradients: unknown method 'simpson'"):
        interpret.IntegratedGradients(lm).attribute(xt, target=0, method="simpson")
    with pytest.raises(IndexError, match="InputXGradient.attribute: target 5 is out of range"):
        interpret.InputXGradient(lm).attribute(xt, target=5)
    with pytest.raises(ValueError, match="NoiseTunnel.attribute: nt_type must be one of"):
        interpret.NoiseTunnel(interpret.Saliency(lm)).attribute(xt, nt_type="smooth")
    with pytest.raises(ValueError, match="Occlusion.attribute: sliding window"):
        interpret.Occlusion(lm).attribute(xt, sliding_window_shapes=(1, 9, 9), target=0)
    with pytest.raises(TypeError, match="Saliency.attribute: inputs must be a lamina Tensor"):
        interpret.Saliency(lm).attribute([[1.0]], target=0)
    with pytest.raises(ValueError, match="baseline of shape"):
        interpret.IntegratedGradients(lm).attribute(xt, baselines=lamina.zeros(3), target=0)
