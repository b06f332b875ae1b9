"""GPT-2 from a small config (no download), with its own init code (transformers'
``_init_weights``): the worked example of docs/extract.md.

    initpolicy extract examples/gpt2_small.py -o examples/gpt2_small.pol
"""

import transformers


def build_model():
    config = transformers.GPT2Config(
        n_layer=3,
        n_embd=64,
        n_head=4,
        n_positions=64,
        vocab_size=128,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.GPT2LMHeadModel(config)
