"""The Coral Edge TPU: the edgetpu_compiler (run and log parsing) and inference through libedgetpu."""
