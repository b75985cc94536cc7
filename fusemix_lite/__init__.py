"""fusemix_lite: the small library behind the FuseMix book.

Frozen unimodal encoders -> cached latents -> FuseMix-trained fusion adapters -> retrieval.
"""

__version__ = "0.1.0"
