"""The agent's replies in es, en and pt: short plain-text templates rendered in a Jinja2 sandbox.

Everything a template prints is computed in Python first and passed as a value (amounts with Babel in
the customer's locale, dates with ``format_date``, names and invoice numbers through
``connectors.channels.templates.render.plain_text``), and the debtor's own text is never passed at
all: a message saying ``{{ 7*7 }}`` or "ignore previous instructions" cannot change what the agent
writes. The templates are constants of this module (no template source ever comes from data).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel.dates import format_date
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from connectors.channels.templates.render import money, plain_text, resolve_language, resolve_locale, safe_link

_LINES = {
    "es": "- {{ i.number }} | vence {{ i.due }} | {{ i.amount }}{% if i.overdue %} | VENCIDA ({{ i.days }} días){% endif %}{% if i.disputed %} | en revisión{% endif %}",  # noqa: E501
    "en": "- {{ i.number }} | due {{ i.due }} | {{ i.amount }}{% if i.overdue %} | OVERDUE ({{ i.days }} days){% endif %}{% if i.disputed %} | under review{% endif %}",  # noqa: E501
    "pt": "- {{ i.number }} | vence {{ i.due }} | {{ i.amount }}{% if i.overdue %} | VENCIDA ({{ i.days }} dias){% endif %}{% if i.disputed %} | em análise{% endif %}",  # noqa: E501
}

_LINK = {
    "es": "{% if link %}\nVea su estado de cuenta y pague aquí: {{ link }}{% endif %}",
    "en": "{% if link %}\nSee your statement and pay here: {{ link }}{% endif %}",
    "pt": "{% if link %}\nVeja seu extrato e pague aqui: {{ link }}{% endif %}",
}

_COPIES = "{% for i in invoices %}- {{ i.number }}: {{ i.link }}\n{% endfor %}"

TEMPLATES: dict[str, dict[str, str]] = {
    "statement": {
        "es": "Hola {{ name }}. Su saldo pendiente es {{ total }}{% if overdue %}, de los cuales {{ overdue }} está vencido{% endif %}:\n{% for i in invoices %}"  # noqa: E501
        + _LINES["es"]
        + "\n{% endfor %}"
        + _LINK["es"],
        "en": "Hello {{ name }}. Your open balance is {{ total }}{% if overdue %}, of which {{ overdue }} is overdue{% endif %}:\n{% for i in invoices %}"  # noqa: E501
        + _LINES["en"]
        + "\n{% endfor %}"
        + _LINK["en"],
        "pt": "Olá {{ name }}. Seu saldo em aberto é {{ total }}{% if overdue %}, dos quais {{ overdue }} está vencido{% endif %}:\n{% for i in invoices %}"  # noqa: E501
        + _LINES["pt"]
        + "\n{% endfor %}"
        + _LINK["pt"],
    },
    "no_balance": {
        "es": "Hola {{ name }}. No tiene facturas pendientes con nosotros. ¡Gracias!",
        "en": "Hello {{ name }}. You have no open invoices with us. Thank you!",
        "pt": "Olá {{ name }}. Você não tem faturas em aberto conosco. Obrigado!",
    },
    "invoice_copy": {
        "es": "Hola {{ name }}. Copia de sus facturas:\n" + _COPIES,
        "en": "Hello {{ name }}. Copies of your invoices:\n" + _COPIES,
        "pt": "Olá {{ name }}. Cópia das suas faturas:\n" + _COPIES,
    },
    "promise": {
        "es": "Gracias, {{ name }}. Registramos su compromiso de pago de {{ amount }} para el {{ day }}. No le enviaremos recordatorios hasta el {{ until }}.",  # noqa: E501
        "en": "Thank you, {{ name }}. We have recorded your promise to pay {{ amount }} on {{ day }}. We will not send you reminders until {{ until }}.",  # noqa: E501
        "pt": "Obrigado, {{ name }}. Registramos seu compromisso de pagar {{ amount }} em {{ day }}. Não enviaremos lembretes até {{ until }}.",  # noqa: E501
    },
    "promise_needs_date": {
        "es": "Gracias, {{ name }}. ¿Para qué fecha podría pagar (dentro de los próximos {{ max_days }} días)?",
        "en": "Thank you, {{ name }}. On what date could you make the payment (within the next {{ max_days }} days)?",
        "pt": "Obrigado, {{ name }}. Em que data poderia fazer o pagamento (nos próximos {{ max_days }} dias)?",
    },
    "paid_found": {
        "es": "Gracias, {{ name }}. Recibimos su pago de {{ amount }} del {{ day }}. No le enviaremos más recordatorios por él.",  # noqa: E501
        "en": "Thank you, {{ name }}. We received your payment of {{ amount }} on {{ day }}. You will get no more reminders about it.",  # noqa: E501
        "pt": "Obrigado, {{ name }}. Recebemos seu pagamento de {{ amount }} de {{ day }}. Não enviaremos mais lembretes sobre ele.",  # noqa: E501
    },
    "paid_not_found": {
        "es": "Gracias, {{ name }}. Aún no vemos el pago en nuestro banco. ¿Nos envía el comprobante (fecha, monto, banco y referencia)? Pausamos los recordatorios hasta el {{ until }}.",  # noqa: E501
        "en": "Thank you, {{ name }}. We cannot see the payment in our bank yet. Could you send the remittance details (date, amount, bank and reference)? Reminders are paused until {{ until }}.",  # noqa: E501
        "pt": "Obrigado, {{ name }}. Ainda não vemos o pagamento em nosso banco. Pode enviar o comprovante (data, valor, banco e referência)? Pausamos os lembretes até {{ until }}.",  # noqa: E501
    },
    "dispute": {
        "es": "Recibimos su reclamo{% if numbers %} sobre {{ numbers }}{% endif %}, {{ name }}. Una persona de nuestro equipo lo revisará y le responderá; mientras tanto no le enviaremos recordatorios por esas facturas.",  # noqa: E501
        "en": "We have received your dispute{% if numbers %} about {{ numbers }}{% endif %}, {{ name }}. A person on our team will review it and get back to you; meanwhile you will get no reminders about those invoices.",  # noqa: E501
        "pt": "Recebemos sua contestação{% if numbers %} sobre {{ numbers }}{% endif %}, {{ name }}. Uma pessoa da nossa equipe vai analisá-la e responder; enquanto isso não enviaremos lembretes sobre essas faturas.",  # noqa: E501
    },
    "plan_offer": {
        "es": "{{ name }}, podemos ofrecerle un plan de {{ count }} cuotas para su saldo de {{ total }}:\n{% for i in items %}- {{ i.day }}: {{ i.amount }}\n{% endfor %}Responda ACEPTO para tomarlo.",  # noqa: E501
        "en": "{{ name }}, we can offer you a plan of {{ count }} instalments for your balance of {{ total }}:\n{% for i in items %}- {{ i.day }}: {{ i.amount }}\n{% endfor %}Reply ACCEPT to take it.",  # noqa: E501
        "pt": "{{ name }}, podemos oferecer um plano de {{ count }} parcelas para seu saldo de {{ total }}:\n{% for i in items %}- {{ i.day }}: {{ i.amount }}\n{% endfor %}Responda ACEITO para aceitar.",  # noqa: E501
    },
    "plan_accepted": {
        "es": "Plan aceptado, {{ name }}: {{ count }} cuotas, la primera de {{ first }} el {{ day }}. Pausamos los recordatorios mientras pague cada cuota a tiempo.",  # noqa: E501
        "en": "Plan accepted, {{ name }}: {{ count }} instalments, the first of {{ first }} on {{ day }}. Reminders are paused while each instalment is paid on time.",  # noqa: E501
        "pt": "Plano aceito, {{ name }}: {{ count }} parcelas, a primeira de {{ first }} em {{ day }}. Pausamos os lembretes enquanto cada parcela for paga em dia.",  # noqa: E501
    },
    "opt_out": {
        "es": "Listo: no le volveremos a escribir por {{ channel }}.",
        "en": "Done: we will not write to you on {{ channel }} again.",
        "pt": "Pronto: não voltaremos a escrever por {{ channel }}.",
    },
    "how_to_pay": {
        "es": "Hola {{ name }}. Puede ver su saldo y pagar en línea aquí: {{ link }}",
        "en": "Hello {{ name }}. You can see your balance and pay online here: {{ link }}",
        "pt": "Olá {{ name }}. Você pode ver seu saldo e pagar online aqui: {{ link }}",
    },
}

CHANNEL_NAMES = {
    "es": {"whatsapp": "WhatsApp", "sms": "SMS", "email": "correo electrónico", "all": "ningún canal"},
    "en": {"whatsapp": "WhatsApp", "sms": "SMS", "email": "e-mail", "all": "any channel"},
    "pt": {"whatsapp": "WhatsApp", "sms": "SMS", "email": "e-mail", "all": "nenhum canal"},
}


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=False)


class Writer:
    """Formats values for one customer's language and locale and renders the agent's templates."""

    def __init__(self, language: str | None, country: str | None, currency: str) -> None:
        self.language, _ = resolve_language(language, country)
        self.locale = resolve_locale(self.language, country)
        self.currency = currency

    def money(self, amount: Decimal, currency: str | None = None) -> str:
        """An amount in the customer's locale."""
        return money(amount, currency or self.currency, self.locale)

    def day(self, d: date) -> str:
        """A date in the customer's locale (medium format)."""
        return format_date(d, format="medium", locale=self.locale)

    def channel(self, channel: str) -> str:
        """A channel's name in the customer's language."""
        return CHANNEL_NAMES[self.language].get(channel, plain_text(channel, 20))

    def render(self, template: str, /, **values: Any) -> str:
        """The ``template`` in the writer's language with ``values`` (strings made plain first)."""
        clean = {k: plain_text(v, 200) if isinstance(v, str) and k != "link" else v for k, v in values.items()}
        if "link" in clean:
            clean["link"] = safe_link(clean["link"])
        text = _env().from_string(TEMPLATES[template][self.language]).render(**clean)
        return "\n".join(line.rstrip() for line in text.strip().splitlines())
