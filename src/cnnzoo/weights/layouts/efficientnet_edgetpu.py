"""timm's EfficientNet-EdgeTPU layouts (``efficientnet_es/em/el``, ``tf_efficientnet_es/em/el``): its
``EfficientNet`` class's naming (see ``_mbconv``)."""

from cnnzoo.weights.layouts import _mbconv

LAYOUTS = {"timm": _mbconv.timm}
