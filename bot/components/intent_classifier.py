"""Logistic-regression intent classifier that tolerates messages with no features.

Rasa's LogisticRegressionClassifier stacks every message's sentence features; an empty or whitespace-only
message has none, and scikit-learn raises "Found array with 0 feature(s)" — the resident would get no reply.
Such messages get no intent here (confidence 0), so the FallbackClassifier and InputGuard answer them.
"""
from __future__ import annotations

from typing import List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class ZhIntentClassifier(LogisticRegressionClassifier):
    def process(self, messages: List[Message]) -> List[Message]:
        readable = [m for m in messages if m.get_sparse_features(attribute=TEXT)[1] is not None]
        if readable:
            super().process(readable)
        for message in messages:
            if message.get_sparse_features(attribute=TEXT)[1] is None:
                message.set("intent", {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set("intent_ranking", [], add_to_output=True)
        return messages
