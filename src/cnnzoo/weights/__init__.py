"""Weights: reading checkpoints safely and mapping reference layouts (torchvision, timm) onto cnnzoo's."""
