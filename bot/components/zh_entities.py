"""Rasa entity extractor around the blank spaCy zh pipeline in ``zh_pipeline`` (rules, no training)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.zh_pipeline import EntityFinder, default_finder


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class ZhEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Adds person_name, phone, id_number(_invalid), address, district, date, ticket_id, legal_matter_type.

    The gazetteer and lexicons are read when the model loads, so editing them needs a restart, not retraining.
    """

    def __init__(self, config: Dict[Text, Any], finder: Optional[EntityFinder] = None) -> None:
        self._config = config
        self._finder = finder or default_finder()

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "ZhEntityExtractor":
        return cls(config)

    @staticmethod
    def required_packages() -> List[Text]:
        return ["spacy", "jieba"]

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):  # button payloads carry their own entities
                continue
            found = [m.as_rasa_entity() for m in self._finder.extract(text)]
            if found:
                entities = message.get(ENTITIES, []) + self.add_extractor_name(found)
                message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def process_training_data(self, training_data: Any) -> Any:
        return training_data
