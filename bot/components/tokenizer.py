"""jieba tokenizer with the fixes Chinese residents' messages need.

- whitespace tokens are dropped (JiebaTokenizer keeps them in mixed Chinese/English text, rasa #7910);
- full-width letters and digits are featurised half-width (token offsets still point into the original);
- very long messages (a 5,000-character paste) are capped at ``max_tokens`` so parsing stays fast.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message

from bot.components.normalizers import to_halfwidth


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
            tokens.append(Token(to_halfwidth(word).lower(), start, end))
            if len(tokens) >= self._config["max_tokens"]:
                break
        return self._apply_token_pattern(tokens)
