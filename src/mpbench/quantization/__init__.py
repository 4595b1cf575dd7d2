"""Post-training quantization of the Keras U-Nets to TFLite and evaluation with the LiteRT interpreter."""
