"""jieba tokenizer with the fixes Chinese residents' messages need.

- whitespace tokens are dropped (JiebaTokenizer keeps them in mixed Chinese/English text, rasa #7910);
- full-width letters and digits are featurised half-width (token offsets still point into the original);
- very long messages (a 5,000-character paste) are capped at ``max_tokens`` so parsing stays fast;
- digit runs (phone, ID and house numbers) become one placeholder token, so their digits are not
  features: "电话13812345678" and "电话13912345678" look alike to the classifier.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message

import re

from bot.components.normalizers import to_halfwidth

_DIGITS = re.compile(r"^[0-9]+[xX]?$")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class ZhTokenizer(JiebaTokenizer):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**JiebaTokenizer.get_default_config(), "max_tokens": 256}

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        import jieba

        text = message.get(attribute) or ""
        tokens: List[Token] = []
        for word, start, end in jieba.tokenize(text):
            if not word.strip():
                continue
            text_ = to_halfwidth(word).lower()
            tokens.append(Token("0" if _DIGITS.match(text_) else text_, start, end))
            if len(tokens) >= self._config["max_tokens"]:
                break
        return self._apply_token_pattern(tokens)
