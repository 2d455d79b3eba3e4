"""Masked-LM pretraining of the byte-level text encoder on fashion_compose captions.

Model: jaxgen.models.text.TextEncoder, pre-LN transformer over UTF-8 bytes (width 128, depth 4,
4 heads, max_len 80 = fashion_compose's caption length). Data: fashion_compose train-split
captions (none mention a held-out colour-class pair, see jaxgen.data.compose.HELD_OUT); the
32x32 canvases are rendered with each batch but unused. BERT masking, 15% of bytes.

Variants (`--config=configs/text_mlm.py:VARIANT`):
  (none)  python train.py --config=configs/text_mlm.py --workdir=runs/text_mlm
          3,000 steps of 64 captions (not yet run; ~1.2 s/step on 2 shared CPU cores)
  demo    600 steps, width 64, depth 2, lr 3e-3: 224 s on 2 shared CPU cores (0.35 s/step);
          on 2,000 test-split captions MLM accuracy 0.762 (chance 1/256), loss 0.834 nats;
          0.713 on the 239 captions naming a held-out colour-class pair, 0.768 on the rest.
          The slow test trains it (tests/families/test_text_mlm.py).
  smoke   seconds; used by the tests

The family makes no images: keep train.sample_every=0 and eval.every=0. Held-out accuracy:
  python -c "from jaxgen import sampling; from jaxgen.families.text_mlm import \
      evaluate_captions; _, f, s, _, ds = sampling.load('runs/text_mlm'); \
      print({k: v.mean() for k, v in evaluate_captions(f, s, ds).items()})"
"""
from jaxgen.config import base_config


def get_config(arg=None):
    c = base_config()
    c.family = "text_mlm"
    c.data.update(source="fashion_compose", image_size=32, channels=3)
    c.data.compose_seed = 0  # which draw of captioned canvases (jaxgen.data.compose)
    c.model = dict(width=128, depth=4, heads=4, mlp_ratio=4, max_len=80, dropout=0.0)
    c.mlm = dict(mask_rate=0.15, p_mask=0.8, p_random=0.1)
    c.optim.update(lr=1e-3, warmup_steps=200, decay="cosine", min_lr_ratio=0.1,
                   weight_decay=0.01, grad_clip=1.0)
    c.train.update(steps=3000, batch_size=64, log_every=100, checkpoint_every=1000,
                   sample_every=0)
    c.eval.every = 0
    if arg == "demo":
        c.model.update(width=64, depth=2, heads=4)
        c.optim.update(lr=3e-3, warmup_steps=50)
        c.train.update(steps=600, log_every=50, checkpoint_every=600)
    elif arg == "smoke":
        c.model.update(width=32, depth=1, heads=2, mlp_ratio=2)
        c.optim.update(lr=3e-3, warmup_steps=2)
        c.train.update(steps=30, batch_size=16, log_every=5, checkpoint_every=30)
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of text_mlm; choose demo, smoke or none")
    return c
