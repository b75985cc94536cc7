"""Shared test setup: never touch the network, and keep everything a test writes out of ~/.cache."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest


@pytest.fixture(scope="session")
def book_home(tmp_path_factory):
    """One FUSEMIX_HOME for all chapter runs, so chapters share the latent cache like the book does."""
    home = tmp_path_factory.mktemp("fusemix_home")
    old = os.environ.get("FUSEMIX_HOME")
    os.environ["FUSEMIX_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("FUSEMIX_HOME", None)
    else:
        os.environ["FUSEMIX_HOME"] = old


@pytest.fixture(scope="module")
def one_thread():
    """Run a test module's small tensor work on one thread: faster, and immune to other processes."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
