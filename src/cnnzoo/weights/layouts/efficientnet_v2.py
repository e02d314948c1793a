"""torchvision's and timm's layouts of EfficientNetV2 (``efficientnet_v2_s/m/l``; ``efficientnetv2_*``
and ``tf_efficientnetv2_*``), renamed by tensor order (see ``_by_order``)."""

from cnnzoo.weights.layouts._by_order import by_order

LAYOUTS = {"torchvision": by_order, "timm": by_order}
