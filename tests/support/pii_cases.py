"""Every written form of personal data the masks must catch: one table, used by the tests of
mask_pii, of the state store (what is stored) and of the server log."""

from __future__ import annotations

# (written form, placeholder it must become)
PII_CASES: list[tuple[str, str]] = [
    ("529.982.247-25", "[CPF]"),
    ("52998224725", "[CPF]"),
    ("529 982 247 25", "[CPF]"),
    ("529.982.247 25", "[CPF]"),
    ("529 982 247-25", "[CPF]"),
    ("11.222.333/0001-81", "[CNPJ]"),
    ("11222333000181", "[CNPJ]"),
    ("11 222 333 0001 81", "[CNPJ]"),
    ("11 222 333/0001-81", "[CNPJ]"),
    ("maria.silva@cliente.com.br", "[EMAIL]"),
    ("joao+suporte@empresa.com", "[EMAIL]"),
    ("ana_souza-2@sub.dominio.org", "[EMAIL]"),
    ("+55 11 98765-4321", "[TELEFONE]"),
    ("+5511987654321", "[TELEFONE]"),
    ("55 11 98765 4321", "[TELEFONE]"),
    ("+55 (11) 98765-4321", "[TELEFONE]"),
    ("(11) 98765-4321", "[TELEFONE]"),
    ("(11)98765-4321", "[TELEFONE]"),
    ("(11) 3456-7890", "[TELEFONE]"),
    ("11 98765 4321", "[TELEFONE]"),
    ("11.98765.4321", "[TELEFONE]"),
    ("11-98765-4321", "[TELEFONE]"),
    ("11 9 8765-4321", "[TELEFONE]"),
    ("11987654321", "[CPF]"),  # 11 bare digits: a mobile number cannot be told from a CPF
    ("98765-4321", "[TELEFONE]"),
    ("3456 7890", "[TELEFONE]"),
]
# Ordinary numbers analysts write: they stay.
NOT_PII = ["ticket 12345678", "#12345678", "versão 12.1.2310", "lote 2024/0001", "erro 500"]
