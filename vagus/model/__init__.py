"""Stress model: training, evaluation and TFLite export (the runtime lives in dsp.stress.model)."""
