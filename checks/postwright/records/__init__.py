"""Grammars of the mail records Postwright both publishes (`postwright dns`) and judges
(`postwright verify`): one parser per record type, so the two sides cannot disagree."""
