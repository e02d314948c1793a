"""torchvision's (``mnasnet*``) and timm's (``mnasnet_a1``, ``mnasnet_100``) layouts of MnasNet,
renamed by tensor order (see ``_by_order``)."""

from cnnzoo.weights.layouts._by_order import by_order

LAYOUTS = {"torchvision": by_order, "timm": by_order}
