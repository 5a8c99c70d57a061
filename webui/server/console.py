"""What ``python launch.py`` prints: the app's own lines, one per event, without the chatter of
the libraries under it (progress bars while loading, warnings meant for their developers)."""

from __future__ import annotations

import logging
import warnings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Warnings of the libraries under the app that tell a person running it nothing they can act on.
KNOWN_WARNINGS = (
    # peft, each time a second LoRA joins a module: the app keeps several adapters on purpose
    r"Already found a `peft_config` attribute",
)


def setup_console(level: int = logging.INFO) -> None:
    """Log the app's lines at ``level``; quiet the known third-party noise.

    Third-party *errors* still show. diffusers' and transformers' warnings are hidden as
    A1111 hides transformers' (the app reports what goes wrong in its own words): among them
    "modules ... should be kept in float32: []" at each fp16 VAE upcast, and "requires
    torchvision" at the first load.
    """
    logging.basicConfig(level=level, format=LOG_FORMAT)
    # alembic names each plugin it sets up; the app logs the migration itself
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for pattern in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    # deprecation notices address the code calling a library (ours), not its user
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for lib in (diffusers_logging, transformers_logging):
        lib.set_verbosity_error()
        lib.disable_progress_bar()  # "Loading pipeline components" / "Loading weights" bars
