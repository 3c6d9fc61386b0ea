//! Decision engine: signal + position + account → order intents.
