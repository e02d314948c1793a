"""The largest sizes a setting, a flag or a checkpoint header may ask for: one definition for all of them,
so that a run the trainer accepts is a run whose checkpoint loads again (memory is sized from these)."""

__all__ = ["MAX_NUM_CLASSES", "MAX_IN_CHANS", "MAX_IMG_SIZE"]

MAX_NUM_CLASSES = 100_000  # classifier outputs (ImageNet-21k has 21,841)
MAX_IN_CHANS = 1024        # input channels (hyperspectral stacks included)
MAX_IMG_SIZE = 4096        # input side in pixels (a 4096² RGB float batch of 128 is 24 GiB)
