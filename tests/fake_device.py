"""A fake accelerator: catch device mistakes in the CPU test suite, without a GPU.

The book's device rule (DESIGN.md, "Devices"): ``train`` hands the model back on the device it
was given, ``embed``/``evaluate`` return CPU tensors, ``encode_a``/``encode_b`` accept inputs on
any device, ``train_ensemble`` returns CPU models. On a CPU-only machine every tensor is on the
CPU, so a chapter that calls ``.numpy()`` on a model output, or feeds CPU latents to a model that
lives on the GPU, passes every test and fails on the reader's GPU. Inside :func:`fake_accelerator`
there is a second device that behaves like CUDA where it matters:

* :class:`FakeDeviceTensor` is a tensor that reports ``device == DEVICE`` (``meta``: a device
  type that exists on every build and is not the CPU) and holds a CPU tensor (``elem``) that does
  the arithmetic. It is built with ``torch.Tensor._make_wrapper_subclass`` (a tensor without
  storage of its own), so autograd, ``nn.Module`` and optimisers treat it as any tensor.
* :class:`FakeAccelerator`, a ``TorchDispatchMode``, sees every ATen operation: it unwraps the
  arguments, runs the operation on the CPU and wraps the results again. Like CUDA it raises
  ``RuntimeError: Expected all tensors to be on the same device`` when an operation mixes a fake
  tensor with a CPU tensor (0-d CPU scalars and CPU indices excepted, as on CUDA; ``copy_`` and
  ``.to()`` move data between the devices), and refuses a random generator of the other device.
  Factory functions with ``device=DEVICE`` and ``x.to(DEVICE)`` make fake tensors, and
  ``x.cpu()`` / ``x.to("cpu")`` plain ones, so ``model.to(DEVICE)`` works unchanged.
* ``.numpy()`` (and so ``np.asarray``) of a fake tensor raises ``TypeError`` as on CUDA.
* ``torch.Generator(device=DEVICE)`` (which ``train`` calls for its on-device generator) gives a
  CPU generator that reports ``DEVICE``, so that random operations can run on the CPU while the
  generator's device is still checked.

What it does not emulate: CUDA's own random streams (numbers differ from a GPU run), pinned memory,
streams and asynchronous errors, ``torch.cuda.*`` calls (the library only makes them when the
device type is ``cuda``), speed. Every operation goes through Python: use tiny shapes.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

DEVICE = torch.device("meta")
_CPU = torch.device("cpu")
_RealGenerator = torch.Generator
_FAKE_GENERATORS: dict[int, torch.Generator] = {}  # C++ address -> generator made for DEVICE
_aten = torch.ops.aten
# operations that legitimately take tensors of both devices
_MOVES = {_aten.copy_.default, _aten._to_copy.default}
# advanced indexing: a tensor on the device may be indexed with CPU indices (as on CUDA)
_INDEXING = {_aten.index.Tensor, _aten.index_put.default, _aten.index_put_.default,
             _aten._index_put_impl_.default}


def _is_fake_device(device) -> bool:
    return device is not None and torch.device(device).type == DEVICE.type


class FakeDeviceTensor(torch.Tensor):
    """A tensor that says it lives on :data:`DEVICE`; ``elem`` (a CPU tensor) holds its values."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        if type(elem) is not torch.Tensor or elem.device.type != "cpu":
            raise TypeError(f"FakeDeviceTensor wraps a plain CPU tensor, got {type(elem).__name__} on {elem.device}")
        t = torch.Tensor._make_wrapper_subclass(cls, elem.shape, strides=elem.stride(),
                                                storage_offset=elem.storage_offset(), dtype=elem.dtype,
                                                layout=elem.layout, device=DEVICE, requires_grad=False)
        t.elem = elem
        return t

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError(f"{func} on a fake-device tensor outside fake_accelerator()")

    def numpy(self, *args, **kwargs):
        raise TypeError(f"can't convert {DEVICE.type} device type tensor to numpy. Use Tensor.cpu() to copy "
                        "the tensor to host memory first. (fake accelerator: on a GPU this is a CUDA tensor)")

    def tolist(self):
        return self.cpu().tolist()  # allowed on CUDA: it copies to the host

    def __format__(self, spec: str) -> str:
        if self.dim() == 0:
            return self.item().__format__(spec)  # f"{loss:.3f}" works on CUDA scalars
        return object.__format__(self, spec)

    def __repr__(self) -> str:
        return f"FakeDeviceTensor({self.elem!r}, device='{DEVICE.type}')"


class _GeneratorMeta(type(_RealGenerator)):
    def __instancecheck__(cls, obj) -> bool:  # a plain torch.Generator still passes isinstance checks
        return isinstance(obj, _RealGenerator)


class FakeAwareGenerator(_RealGenerator, metaclass=_GeneratorMeta):
    """``torch.Generator`` while the fake accelerator runs: on :data:`DEVICE` a CPU generator
    that reports :data:`DEVICE` (CUDA's random streams are not emulated), elsewhere the usual one."""

    def __new__(cls, device=None):
        on_fake = _is_fake_device(device)
        g = super().__new__(cls, device="cpu" if on_fake else device)
        g._on_fake = on_fake
        if on_fake:  # ATen hands the dispatcher a new Python object for it: remember the C++ one
            _FAKE_GENERATORS[g._cdata] = g
        return g

    @property
    def device(self) -> torch.device:
        return DEVICE if self._on_fake else _RealGenerator.device.__get__(self)


def _generator_device(g) -> torch.device:
    return DEVICE if g._cdata in _FAKE_GENERATORS else g.device


def _unwrap(x):
    return x.elem if isinstance(x, FakeDeviceTensor) else x


def _wrap(x):
    return FakeDeviceTensor(x) if type(x) is torch.Tensor else x


def _named_args(func, args, kwargs) -> dict:
    names = [a.name for a in func._schema.arguments]
    return {**dict(zip(names, args)), **kwargs}


class FakeAccelerator(TorchDispatchMode):
    """Run operations on :class:`FakeDeviceTensor` on the CPU, with CUDA's device checks."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        named = _named_args(func, args, kwargs)
        device = kwargs.get("device")
        leaves = [(name, t) for name, value in named.items()
                  for t in tree_flatten(value)[0] if isinstance(t, torch.Tensor)]
        on_fake = any(isinstance(t, FakeDeviceTensor) for _, t in leaves)
        target_fake = _is_fake_device(device) if device is not None else on_fake
        if (on_fake or target_fake) and func not in _MOVES:
            self._check_devices(func, named, leaves)
        generator = kwargs.get("generator")
        if generator is not None:
            op_device = DEVICE if (on_fake or target_fake) else _CPU
            if _generator_device(generator).type != op_device.type:
                raise RuntimeError(f"Expected a '{op_device.type}' device type for generator but found "
                                   f"'{_generator_device(generator).type}' (fake accelerator: {func})")
        run_kwargs = {k: tree_map(_unwrap, v) for k, v in kwargs.items()}
        if target_fake and device is not None:
            run_kwargs["device"] = _CPU
        out = func(*tree_map(_unwrap, args), **run_kwargs)
        mutated = [named[a.name] for a in func._schema.arguments
                   if a.alias_info is not None and a.alias_info.is_write and a.name in named]
        if mutated and all(isinstance(m, torch.Tensor) for m in mutated):
            # in place (add_, copy_) or out=: hand back the very objects that were written to
            return mutated[0] if len(func._schema.returns) == 1 else tuple(mutated)
        return tree_map(_wrap, out) if target_fake else out

    @staticmethod
    def _check_devices(func, named: dict, leaves) -> None:
        self_fake = isinstance(named.get("self"), FakeDeviceTensor)
        for name, t in leaves:
            if isinstance(t, FakeDeviceTensor):
                continue
            if name == "indices" and func in _INDEXING and self_fake:
                continue  # x_gpu[cpu_index] is allowed
            written = any(a.name == name and a.alias_info is not None and a.alias_info.is_write
                          for a in func._schema.arguments)
            if t.dim() == 0 and not written:
                continue  # a 0-d CPU tensor counts as a scalar, as on CUDA
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two "
                               f"devices, {DEVICE.type} and cpu! (fake accelerator: {func}, argument "
                               f"{name!r} is a CPU tensor of shape {tuple(t.shape)})")


@contextlib.contextmanager
def fake_accelerator() -> Iterator[torch.device]:
    """Within the block, :data:`DEVICE` behaves like a GPU (see the module docstring); yields it."""
    old = torch.Generator
    torch.Generator = FakeAwareGenerator
    try:
        with FakeAccelerator():
            yield DEVICE
    finally:
        torch.Generator = old
        _FAKE_GENERATORS.clear()
