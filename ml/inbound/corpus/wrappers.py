"""How debtors' messages arrive around the words that matter: greetings, sign-offs, signatures,
legal disclaimers, quoted reminders with their reply headers, and WhatsApp/SMS shorthand and typos.

Build-time material of the labelled reply corpus (see ``write_corpus``); never imported by the
product. Every pool comes in two halves, ``A`` for training families and ``B`` for held-out ones, so
a held-out message shares neither its core wording nor its wrapping with the training part. The
quoted reminders deliberately carry words a naive reader trips on ("STOP", "acciones legales",
"ya pagó", "legal action"), and the disclaimers "recibió por error" / "received in error".
"""

# ruff: noqa: E501 - tables of message text

from __future__ import annotations

import random
import unicodedata

GREETINGS = {
    "es": {"A": ["Buenos días", "Hola", "Estimados", "Buenas tardes", "Buen día", "Hola qué tal"],
           "B": ["Buenas", "Estimada Srta.", "Saludos cordiales", "Qué tal", "Estimado equipo de cobranzas"]},
    "pt": {"A": ["Bom dia", "Olá", "Prezados", "Boa tarde"], "B": ["Oi", "Boa noite", "Caros senhores", "Prezada equipe"]},
    "en": {"A": ["Hi", "Hello", "Dear Sir/Madam", "Good morning"], "B": ["Hey", "Hi team", "Dear Accounts", "Afternoon"]},
}  # fmt: skip
SIGNOFFS = {
    "es": {"A": ["Saludos", "Atentamente", "Gracias", "Quedo atento"], "B": ["Cordialmente", "Un saludo", "Atte.", "Bendiciones"]},
    "pt": {"A": ["Atenciosamente", "Obrigado", "Abraço"], "B": ["Att.", "Cumprimentos", "Grato"]},
    "en": {"A": ["Best regards", "Thanks", "Kind regards"], "B": ["Regards", "Cheers", "Many thanks"]},
}  # fmt: skip
NAMES = {
    "A": ["María Fernanda López", "Carlos Ruiz", "João Pereira", "Ana Souza", "Mike Johnson", "Emma Clarke"],
    "B": ["Lucía Herrera", "Diego Castro", "Paulo Mendes", "Beatriz Lima", "Sarah Miller", "Tom Evans"],
}
TITLES = {
    "es": {"A": ["Gerente de Compras", "Tesorería", "Contador"], "B": ["Jefa de Administración", "Cuentas por pagar"]},
    "pt": {"A": ["Financeiro", "Gerente Administrativo"], "B": ["Contas a Pagar", "Diretora Financeira"]},
    "en": {"A": ["Accounts Payable", "Finance Manager"], "B": ["Office Manager", "Controller"]},
}  # fmt: skip
COMPANIES = {"A": ["Ferretería El Tornillo SA de CV", "Distribuidora Andina SAS", "Comercial Sul Ltda",
                   "Blue Harbor Supplies LLC"],
             "B": ["Importadora del Plata SRL", "Agroinsumos Maule SpA", "Papelaria Lusitana Lda",
                   "Northgate Trading Ltd"]}  # fmt: skip
SENT_FROM = {
    "es": {"A": ["Enviado desde mi iPhone"], "B": ["Enviado desde mi dispositivo Samsung"]},
    "pt": {"A": ["Enviado do meu iPhone"], "B": ["Enviado do Outlook para Android"]},
    "en": {"A": ["Sent from my iPhone"], "B": ["Get Outlook for Android"]},
}
DISCLAIMERS = {
    "es": {
        "A": [
            "AVISO DE CONFIDENCIALIDAD: Este mensaje y sus anexos son confidenciales y de uso exclusivo del "
            "destinatario. Si usted lo recibió por error, notifique al remitente y elimínelo."
        ],
        "B": [
            "Aviso legal: la información contenida en este correo es privilegiada. Si no es el destinatario, "
            "le rogamos que lo borre; cualquier uso no autorizado está prohibido por la ley."
        ],
    },
    "pt": {
        "A": ["AVISO: Esta mensagem é confidencial. Se a recebeu por engano, informe o remetente e apague-a."],
        "B": [
            "Esta mensagem pode conter informação confidencial ou privilegiada; o seu uso não autorizado é "
            "proibido por lei. Caso a tenha recebido por engano, elimine-a."
        ],
    },
    "en": {
        "A": [
            "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential. If you received it in "
            "error, please notify the sender and delete it."
        ],
        "B": [
            "Disclaimer: This message may contain privileged information. Any unauthorised use is prohibited "
            "and may be unlawful. If you are not the intended recipient, delete it."
        ],
    },
}
REMINDERS = {
    "es": {
        "A": [
            "Estimado cliente, le recordamos que la factura FAC-2291 por $ 1.250.000 venció el 15/11. Si ya "
            "pagó, ignore este mensaje. Responda STOP para no recibir más mensajes.",
            "Su cuenta presenta un saldo vencido. Evite acciones legales regularizando su pago hoy.",
        ],
        "B": [
            "Recordatorio: tiene facturas pendientes de pago. Puede pagar en el portal o responder a este correo. "
            "Para darse de baja escriba BAJA.",
            "Le informamos que su deuda podría ser enviada a nuestro departamento jurídico.",
        ],
    },
    "pt": {
        "A": [
            "Prezado cliente, a fatura NF 4471 de R$ 3.400,50 está vencida. Caso já tenha pago, desconsidere. "
            "Responda SAIR para não receber mais mensagens."
        ],
        "B": ["Lembrete: existem faturas em aberto. Evite medidas judiciais regularizando o pagamento."],
    },
    "en": {
        "A": [
            "Dear customer, invoice INV-2026-00123 for $2,300.75 is now overdue. If you have already paid, "
            "please disregard. Reply STOP to opt out."
        ],
        "B": ["Reminder: your account is past due. To avoid legal action, please pay today. Text STOP to stop."],
    },
}
HEADERS = {
    "es": {"A": ["El lun, 2 dic 2026 a las 9:14, Cobranzas <cobranzas@proveedor.example> escribió:"],
           "B": ["El mié., 14 ene. 2027 16:02, Cuentas por Cobrar <ar@proveedor.example> escribió:"]},
    "pt": {"A": ["Em seg., 2 de dez. de 2026 às 09:14, Cobrança <cobranca@fornecedor.example> escreveu:"],
           "B": ["Em qua., 14 de jan. de 2027 16:02, Financeiro <fin@fornecedor.example> escreveu:"]},
    "en": {"A": ["On Mon, Dec 2, 2026 at 9:14 AM Collections <ar@supplier.example> wrote:"],
           "B": ["On Wed, 14 Jan 2027 at 16:02, Accounts Receivable <ar@supplier.example> wrote:"]},
}  # fmt: skip
OUTLOOK = {
    "es": ("-----Mensaje original-----", "De: Cobranzas <cobranzas@proveedor.example>",
           "Enviado el: lunes, 2 de diciembre de 2026 9:14", "Para: Compras", "Asunto: Factura vencida"),
    "pt": ("-----Mensagem original-----", "De: Cobrança <cobranca@fornecedor.example>",
           "Enviada em: segunda-feira, 2 de dezembro de 2026 09:14", "Para: Financeiro", "Assunto: Fatura vencida"),
    "en": ("-----Original Message-----", "From: Collections <ar@supplier.example>",
           "Sent: Monday, December 2, 2026 9:14 AM", "To: Accounts Payable", "Subject: Overdue invoice"),
}  # fmt: skip
SHORTHAND = {
    "es": [("que ", "q "), ("por favor", "porfa"), ("por favor", "xfa"), ("gracias", "grax"), ("también", "tb"),
           ("para ", "pa "), ("porque", "xq"), ("mensaje", "msj"), ("saludos", "slds"), ("de acuerdo", "dacuerdo")],
    "pt": [("você", "vc"), ("não", "n"), ("também", "tb"), ("obrigado", "obg"), ("beleza", "blz"),
           ("por favor", "pfv"), ("que ", "q "), ("hoje", "hj"), ("mensagem", "msg"), ("está", "tá")],
    "en": [("you", "u"), ("please", "pls"), ("thanks", "thx"), ("tomorrow", "tmrw"), ("are ", "r "),
           ("okay", "k"), ("because", "bc"), ("I'll", "ill"), ("don't", "dont"), ("for ", "4 ")],
}  # fmt: skip
EMOJI = {"positive": ["🙏", "👍", "🙂", "😊", "✅"], "negative": ["😡", "😤", "🙄"], "sad": ["😔", "😢", "🥺"],
         "neutral": ["😅", "🤷", ""]}  # fmt: skip


def strip_accents(text: str) -> str:
    """Text without diacritics (ñ kept as n), the way many people type on a phone."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def typo(rng: random.Random, text: str) -> str:
    """One typo in one longer word: a swapped, doubled or dropped letter."""
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if not idx:
        return text
    i = rng.choice(idx)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.randrange(3)
    words[i] = (
        (w[:j] + w[j + 1] + w[j] + w[j + 2 :])
        if kind == 0
        else (w[:j] + w[j] + w[j:])
        if kind == 1
        else (w[:j] + w[j + 1 :])
    )
    return " ".join(words)


def chat_noise(rng: random.Random, text: str, lang: str, intent: str) -> str:
    """WhatsApp/SMS style: lower case, no accents, shorthand, a typo, an emoji."""
    if rng.random() < 0.5:
        text = text.lower()
    if rng.random() < 0.4:
        text = strip_accents(text)
    if rng.random() < 0.45:
        for a, b in rng.sample(SHORTHAND[lang], 4):
            if a in text:
                text = text.replace(a, b, 1)
    if rng.random() < 0.25 and len(text.split()) >= 3:
        text = typo(rng, text)
    if rng.random() < 0.3:
        text = text.rstrip(".")
    if rng.random() < 0.25:
        mood = {"dispute": "negative", "legal_or_complaint": "negative", "opt_out": "negative", "hardship": "sad",
                "acknowledgement": "positive", "promise_to_pay": "positive", "paid_claim": "neutral"}.get(intent,
                                                                                                       "neutral")  # fmt: skip
        text = f"{text} {rng.choice(EMOJI[mood])}".rstrip()
    if rng.random() < 0.05:
        text = text.upper()
    return text


def chat(rng: random.Random, body: str, lang: str, pool: str, intent: str) -> str:
    """A WhatsApp or SMS message around ``body``."""
    parts = []
    if rng.random() < 0.35 and len(body) > 12:
        parts.append(rng.choice(GREETINGS[lang][pool]) + rng.choice([",", "", "!", " 👋"]))
    parts.append(body)
    if rng.random() < 0.2 and len(body) > 12:
        parts.append(rng.choice(SIGNOFFS[lang][pool]))
    sep = rng.choice([" ", "\n", ". "])
    return chat_noise(rng, sep.join(parts), lang, intent)


def email(rng: random.Random, body: str, lang: str, pool: str) -> str:
    """An e-mail reply around ``body``: greeting, sign-off, signature, disclaimer, the quoted reminder."""
    body = body[:1].upper() + body[1:]
    if body[-1:].isalnum():
        body += "."
    name = rng.choice(NAMES[pool])
    lines = [rng.choice(GREETINGS[lang][pool]) + ",", "", body, ""]
    lines += [rng.choice(SIGNOFFS[lang][pool]) + ",", name]
    if rng.random() < 0.6:
        lines += [f"{rng.choice(TITLES[lang][pool])} | {rng.choice(COMPANIES[pool])}", "Tel. +52 55 5555 0101"]
    if rng.random() < 0.2:
        lines += ["", rng.choice(SENT_FROM[lang][pool])]
    if rng.random() < 0.35:
        lines += ["", rng.choice(DISCLAIMERS[lang][pool])]
    style = rng.random()
    reminder = rng.choice(REMINDERS[lang][pool])
    if style < 0.45:
        lines += ["", rng.choice(HEADERS[lang][pool])] + [f"> {ln}" for ln in _wrap(reminder)]
    elif style < 0.75:
        lines += ["", *OUTLOOK[lang], "", *_wrap(reminder)]
    return "\n".join(lines)


def _wrap(text: str, width: int = 72) -> list[str]:
    out, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*out, line]
