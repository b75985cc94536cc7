"""Start an IPython kernel the way Colab does (its kernel.json runs ``python3 -m
colab_kernel_launcher``): ``google.colab`` is imported first, then ipykernel takes over."""

import google.colab  # noqa: F401  (Colab's launcher imports it before the kernel starts)
from ipykernel import kernelapp

if __name__ == "__main__":
    kernelapp.launch_new_instance()
