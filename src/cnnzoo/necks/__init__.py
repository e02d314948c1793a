"""Necks: modules that turn a backbone's multi-scale features (``features_only=True``) into the
feature pyramid a detection or segmentation head reads."""

from cnnzoo.necks.bifpn import BiFPN, BiFPNLayer, FastNormalizedFusion

__all__ = ["BiFPN", "BiFPNLayer", "FastNormalizedFusion"]
