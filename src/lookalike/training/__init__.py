"""Learned similarity: projection heads trained on a base model's vectors (triplet, contrastive,
SupCon, ArcFace), optional fine-tuning of the last backbone blocks, and the autoencoder baseline."""
