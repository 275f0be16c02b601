"""Tiny randomly initialised SigLIP and CLIP models saved with `save_pretrained`, so tests go through
the real transformers loading, preprocessing and text paths without any download."""

from __future__ import annotations

from pathlib import Path

SENTENCES = [
    "a photo of a dog", "a cat on a sofa", "a red car", "the grass is green", "a dog on grass",
    "two cats", "the quick brown fox jumps over the lazy dog", "pack my box with five dozen liquor jugs",
]
IMAGE_SIZE = 32


def _tokenizer_model(workdir: Path) -> Path:
    import sentencepiece as spm

    corpus = workdir / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 20))
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(workdir / "sp"), vocab_size=36, pad_id=0, eos_id=1,
        unk_id=2, bos_id=-1, model_type="unigram", minloglevel=2,
    )
    return workdir / "sp.model"


def _tower(**extra: object) -> dict[str, object]:
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, **extra)


def build_tiny_siglip(target: Path, with_tokenizer: bool = True) -> Path:
    """A 32-d SigLIP with a 32x32 vision tower and a sentencepiece text tower, saved to `target`."""
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor, SiglipTokenizer

    torch.manual_seed(0)
    target.mkdir(parents=True, exist_ok=True)
    tokenizer = SiglipTokenizer(vocab_file=str(_tokenizer_model(target.parent)))
    config = SiglipConfig(
        text_config=_tower(vocab_size=36, max_position_embeddings=16, pad_token_id=tokenizer.pad_token_id,
                           eos_token_id=tokenizer.eos_token_id, bos_token_id=None),
        vision_config=_tower(image_size=IMAGE_SIZE, patch_size=8),
    )
    SiglipModel(config).save_pretrained(target)
    image_processor = SiglipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    if with_tokenizer:
        SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(target)
    else:
        image_processor.save_pretrained(target)
    return target


def build_tiny_clip(target: Path) -> Path:
    """A 16-d CLIP with a byte-level BPE tokenizer trained on a few sentences, saved to `target`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, PreTrainedTokenizerFast

    torch.manual_seed(0)
    target.mkdir(parents=True, exist_ok=True)
    backend = Tokenizer(models.BPE(unk_token="<|endoftext|>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(
        SENTENCES, trainers.BpeTrainer(vocab_size=60, special_tokens=["<|startoftext|>", "<|endoftext|>"])
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
        pad_token="<|endoftext|>", unk_token="<|endoftext|>",
    )
    config = CLIPConfig(
        text_config=_tower(vocab_size=len(tokenizer), max_position_embeddings=16,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                           pad_token_id=tokenizer.pad_token_id),
        vision_config=_tower(image_size=IMAGE_SIZE, patch_size=8),
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(target)
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                         crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(target)
    return target
