"""torchvision's (``efficientnet_v2_s/m/l``) and timm's (``efficientnetv2_*``, ``tf_efficientnetv2_*``)
EfficientNetV2 layouts: the same naming as EfficientNet's (see ``efficientnet``)."""

from cnnzoo.weights.layouts.efficientnet import LAYOUTS as _EFFICIENTNET

LAYOUTS = dict(_EFFICIENTNET)
