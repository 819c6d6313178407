"""Prompt checks against a CLIP space's tokenizer: CLIP text towers cut every prompt at their context length
(77 tokens for CLIP), silently — two long prompts that differ only after the cut get bit-identical embeddings.
Every prompt sing embeds is counted first (:func:`check_prompts`); a prompt over the limit, or an empty one, is
an error naming where it comes from, its text and its token count.

Token counts follow open_clip's tokenizers exactly (open_clip 3.x ``open_clip/tokenizer.py``):

* ``SimpleTokenizer`` (CLIP's BPE; OpenAI CLIP, EVA-CLIP, most LAION models): ``[sot] + encode(text) + [eot]``,
  so ``len(encode(text)) + 2`` (``encode`` applies the tokenizer's own text cleaning);
* ``HFTokenizer`` / ``SigLipTokenizer`` (a Hugging Face tokenizer in ``.tokenizer``): the ids the HF tokenizer
  gives the cleaned text with its special tokens (``clips`` mode: the text's ids + 3).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

__all__ = ["check_prompts", "check_template", "context_length", "token_count"]


def check_template(template: str, key: str) -> None:
    """Check a prompt template: exactly one empty replacement field ``{}`` and nothing else for ``str.format``
    (literal braces doubled, ``{{``/``}}``), so that ``template.format(name)`` is the prompt of ``name``.

    Raises ValueError naming ``key`` for a non-string, no ``{}``, a second field, a named or numbered field
    (``{name}``, ``{0}``), a format spec or conversion, or unbalanced braces (what ``string.Formatter`` refuses).
    """
    import string

    if not isinstance(template, str):
        raise ValueError(f"config {key}: expected a string with one {{}}, got {template!r}")
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as e:
        raise ValueError(f"config {key}: {template!r} is not a valid template ({e}); write a literal brace as "
                         "{{ or }}") from None
    if len(fields) != 1 or fields[0] != ("", "", None):
        found = ", ".join("{" + n + (f"!{c}" if c else "") + (f":{f}" if f else "") + "}" for n, f, c in fields)
        raise ValueError(f"config {key}: {template!r} must contain exactly one {{}} (the name goes there) and no "
                         f"other replacement field; found {len(fields)}: {found or 'none'} (write a literal brace "
                         "as {{ or }})")


def context_length(tokenizer: Any) -> int:
    """The number of tokens the text tower reads (``tokenizer.context_length``: 77 for CLIP); TypeError for a
    tokenizer without one."""
    n = getattr(tokenizer, "context_length", None)
    if not n:
        raise TypeError(f"tokenizer {type(tokenizer).__name__} has no context_length")
    return int(n)


def token_count(tokenizer: Any, text: str) -> int:
    """Tokens ``text`` becomes, special tokens included, before any truncation (see the module docstring).
    TypeError for a tokenizer kind not listed there."""
    if hasattr(tokenizer, "encode") and hasattr(tokenizer, "sot_token_id"):  # open_clip SimpleTokenizer
        return len(tokenizer.encode(text)) + 2
    hf = getattr(tokenizer, "tokenizer", None)
    if hf is not None and callable(hf):  # open_clip HFTokenizer / SigLipTokenizer
        clean = getattr(tokenizer, "clean_fn", None)
        text = clean(text) if callable(clean) else text
        if getattr(tokenizer, "tokenizer_mode", "") == "clips":
            return len(hf(text, add_special_tokens=False)["input_ids"]) + 3
        return len(hf(text)["input_ids"])
    raise TypeError(f"cannot count tokens with a {type(tokenizer).__name__} (not an open_clip tokenizer)")


def check_prompts(tokenizer: Any, prompts: Mapping[str, Sequence[str]], *, where: str = "",
                  max_listed: int = 10) -> None:
    """Check every prompt against ``tokenizer``: raise one ValueError listing each empty prompt and each prompt
    longer than the tokenizer's context length (the config key it comes from, the prompt and its token count;
    at most ``max_listed`` of them, then how many more).

    ``prompts``: {source (e.g. the config key ``analyses.steering.target``): [prompt strings]}; ``where``: what
    the tokenizer belongs to, for the message (e.g. "space openai_vitl14"). Returns None when all fit.
    """
    limit = context_length(tokenizer)
    problems, seen = [], set()
    for source, texts in prompts.items():
        for text in texts:
            if (source, text) in seen:
                continue
            seen.add((source, text))
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{source}: empty prompt {text!r}")
                continue
            n = token_count(tokenizer, text)
            if n > limit:
                shown = text if len(text) <= 120 else f"{text[:70]} ... {text[-40:]}"
                problems.append(f"{source}: prompt {shown!r} ({len(text)} characters) has {n} tokens, more than "
                                f"the {limit} the text tower reads (it would be cut silently)")
    if problems:
        shown = problems[:max_listed] + ([f"... and {len(problems) - max_listed} more"]
                                         if len(problems) > max_listed else [])
        head = f"{where}: " if where else ""
        raise ValueError(f"{head}{len(problems)} prompt(s) cannot be embedded faithfully (context length {limit} "
                         "tokens, special tokens included):\n  " + "\n  ".join(shown))
