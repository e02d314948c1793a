"""timm's layouts of EfficientNet-EdgeTPU (``efficientnet_es/em/el``, ``tf_efficientnet_es/em/el``),
renamed by tensor order (see ``_by_order``)."""

from cnnzoo.weights.layouts._by_order import by_order

LAYOUTS = {"timm": by_order}
