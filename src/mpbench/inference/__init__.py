"""Inference speed of trained models: framework runners and the batch-size benchmark."""
