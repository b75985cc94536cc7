"""Stand-in for Colab's ``google.colab`` package, for `make test-colab` (README, "Colab, emulated").

Colab's kernel imports ``google.colab`` at start-up, so ``"google.colab" in sys.modules`` is true
in every notebook there; the book's install cells test exactly that. This stub carries no Colab API: a chapter that called one would fail the emulation,
which is what we want to learn.
"""

EMULATED = True
__version__ = "0.0.0+emulated"
