"""The annotator feedback loop: sampling, labelling, agreement, gold labels and retraining."""
