"""torchvision's state-dict layout of this family, renamed by tensor order (see ``_by_order``)."""

from cnnzoo.weights.layouts._by_order import by_order

LAYOUTS = {"torchvision": by_order}
