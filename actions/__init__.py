"""rasa-sdk action server for bianmin. One module per feature; rasa_sdk imports every module in this package."""
