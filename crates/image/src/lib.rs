//! caixa-image
