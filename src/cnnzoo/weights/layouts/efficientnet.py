"""torchvision's (``efficientnet_b0…b7``) and timm's (``efficientnet_*``, ``tf_efficientnet_*``) layouts
of EfficientNet, renamed by tensor order (see ``_by_order``)."""

from cnnzoo.weights.layouts._by_order import by_order

LAYOUTS = {"torchvision": by_order, "timm": by_order}
