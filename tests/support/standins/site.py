"""A plain web site stand-in and synthetic Portuguese articles."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tests.support.standins.server import Request, Response, StandinServer

# --- a plain web site ----------------------------------------------------------------


class SiteStandin(StandinServer):
    """Static pages by path (query strings ignored; /a/ serves /a), plus an optional robots.txt."""

    def __init__(self, *, robots: str | None = None) -> None:
        super().__init__()
        self.robots = robots  # None: /robots.txt answers 404
        self.pages: dict[str, Response] = {}

    def add(
        self, path: str, html: str, *, content_type: str = "text/html; charset=utf-8", status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        with self._lock:
            self.pages[path] = Response(status, html.encode(), content_type, dict(headers or {}))

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        with self._lock:
            self.pages[path] = Response(status, b"", "text/html", {"Location": to})

    def route(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            if self.robots is None:
                return Response(404, b"not found", "text/plain")
            return Response(200, self.robots.encode(), "text/plain; charset=utf-8")
        with self._lock:  # like most servers, /a/ serves /a
            page = self.pages.get(request.path) or self.pages.get(request.path.rstrip("/") or "/")
        return page if page is not None else Response(404, b"<h1>404</h1>", "text/html")


# --- synthetic Portuguese articles ---------------------------------------------------


@dataclass(frozen=True)
class SyntheticArticle:
    title: str
    body: str
    labels: list[str]
    code: str  # a token unique to the article (e.g. "BPA-00042"), handy for retrieval checks


_PRODUCTS = [
    ("Protheus", ["SIGAFAT", "SIGAEST", "SIGAFIN", "SIGACOM", "SIGAFIS", "SIGAGPE"]),
    ("RM", ["TOTVS Folha de Pagamento", "TOTVS Gestão Financeira", "TOTVS Educacional"]),
    ("Datasul", ["Faturamento", "Contas a Receber", "Manufatura"]),
    ("Fluig", ["ECM", "BPM", "Identity"]),
    ("Winthor", ["Rotina 316", "Rotina 1203", "Logística"]),
]
_TOPICS = [
    ("Como configurar o parâmetro {p}", "configuracao"),
    ("Erro {code} ao gerar a nota fiscal", "erro"),
    ("Lentidão ao processar {thing}", "desempenho"),
    ("Como atualizar o ambiente após a expedição contínua", "atualizacao"),
    ("Falha de integração com o {thing}", "integracao"),
    ("Boas práticas para abertura de chamado sobre {thing}", "boas-praticas"),
]
_PARAMS = ["MV_ESTNEG", "MV_PAR01", "MV_SPEDNFE", "MV_TPNRNFS", "MV_CONTSOC", "MV_ULMES"]
_THINGS = ["TSS", "SEFAZ", "eSocial", "SPED Fiscal", "REINF", "Smart View", "TOTVS Mobile", "PIX"]
_CAUSES = [
    "O parâmetro estava configurado com conteúdo divergente entre as filiais.",
    "O dicionário de dados não foi atualizado após a aplicação do pacote.",
    "O certificado digital do ambiente expirou.",
    "A tabela de preços informada não estava vigente na data do pedido.",
    "O serviço do TSS não estava em execução no servidor de aplicação.",
]
_STEPS = [
    "Acesse o módulo Configurador (SIGACFG).",
    "Em Ambiente > Cadastros > Parâmetros, localize o parâmetro indicado.",
    "Verifique o conteúdo em todas as filiais.",
    "Aplique o pacote de atualização mais recente da expedição contínua.",
    "Reinicie o serviço do AppServer e valide novamente o processo.",
    "Consulte o log do console.log para identificar a rotina com falha.",
    "Anexe ao chamado o print da mensagem e o arquivo de log.",
]


def synthetic_articles(n: int, *, seed: int = 0) -> list[SyntheticArticle]:
    """``n`` deterministic KCS-like articles in Portuguese (Ocorrência/Ambiente/Causa/Solução).

    Every article carries a unique code ``BPA-{i:05d}`` in its title and body.
    """
    rng = random.Random(seed)
    out = []
    for i in range(n):
        product, modules = rng.choice(_PRODUCTS)
        module = rng.choice(modules)
        topic, label = rng.choice(_TOPICS)
        code = f"BPA-{i:05d}"
        subject = topic.format(p=rng.choice(_PARAMS), code=code, thing=rng.choice(_THINGS))
        title = f"{product} - {module} - {subject} ({code})"
        steps = "".join(f"<li>{s}</li>" for s in rng.sample(_STEPS, 3))
        body = (
            f"<h2>Ocorrência</h2><p>Ao executar a rotina no {module} do {product}, o sistema apresenta a "
            f"mensagem {code}. {subject}.</p>"
            f"<h2>Ambiente</h2><p>{product} - {module} - Todas as versões.</p>"
            f"<h2>Causa</h2><p>{rng.choice(_CAUSES)}</p>"
            f"<h2>Solução</h2><ol>{steps}</ol>"
            f"<p>Persistindo a ocorrência, abra um chamado informando o código {code}.</p>"
        )
        out.append(SyntheticArticle(title=title, body=body, labels=[label, product.lower()], code=code))
    return out
