//! caixa-engine
