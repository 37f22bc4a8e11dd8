"""The portal's words in Spanish, English and Portuguese, and locale formatting (Babel).

Amounts and dates are formatted with the message templates' helpers
(:mod:`connectors.channels.templates.render`: ``money`` with the CLDR currency pattern, the same
language fallback and ``<language>_<country>`` locale), so a debtor reads the same figures on the
portal as in the message that brought them there.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel.dates import format_date

from connectors.channels.templates.render import money, resolve_language, resolve_locale

TEXT: dict[str, dict[str, str]] = {
    "es": {
        "title": "Estado de cuenta",
        "hello": "Hola, {name}",
        "balance": "Saldo pendiente",
        "invoice": "Factura",
        "due": "Vencimiento",
        "open": "Saldo",
        "status": "Estado",
        "overdue": "Vencida ({days} días)",
        "current": "Al día",
        "disputed": "En reclamo",
        "view_copy": "Ver copia",
        "pdf": "PDF",
        "none": "No tiene facturas pendientes. ¡Gracias!",
        "pay_now": "Pagar ahora",
        "pay_hint": "Pague con tarjeta en la página segura del proveedor de pagos.",
        "promise": "Prometer un pago",
        "promise_date": "Fecha de pago",
        "promise_amount": "Monto",
        "promise_hint": "Una fecha entre hoy y el {last}.",
        "dispute": "Reclamar una factura",
        "dispute_invoices": "Facturas reclamadas",
        "dispute_note": "Explíquenos el problema",
        "dispute_file": "Adjunto (PDF, PNG, JPEG o WebP, hasta {mb} MB)",
        "plan": "Plan de pagos",
        "plan_intro": "Puede pagar {total} en cuotas:",
        "plan_option": "{n} cuotas",
        "plan_first": "primera cuota {amount} el {date}",
        "plan_none": "Su saldo no permite un plan de pagos; puede prometer un pago o pagar ahora.",
        "plan_accept": "Aceptar este plan",
        "prefs": "Preferencias de contacto",
        "prefs_hint": "Marque los canales por los que ya no quiere recibir recordatorios.",
        "prefs_save": "Guardar",
        "send": "Enviar",
        "back": "Volver al estado de cuenta",
        "done_promise": "Registramos su promesa de pago de {amount} para el {date}. Gracias.",
        "done_dispute": "Registramos su reclamo sobre {invoices}. Una persona lo revisará y le responderá.",
        "done_plan": "Plan aceptado: {n} cuotas, la primera de {amount} el {date}.",
        "done_prefs": "No le escribiremos más por: {channels}.",
        "done_paid": "Gracias. Recibimos la confirmación de su pago; su estado de cuenta se actualizará pronto.",
        "cancelled": "El pago no se completó. Puede intentarlo de nuevo cuando quiera.",
        "error": "No pudimos procesar el formulario: {reason}",
        "print": "Copia de factura",
        "issued": "Emitida",
        "total": "Total",
        "channel_email": "Correo electrónico",
        "channel_whatsapp": "WhatsApp",
        "channel_sms": "SMS",
        "channel_call": "Llamadas",
    },
    "en": {
        "title": "Statement of account",
        "hello": "Hello, {name}",
        "balance": "Balance due",
        "invoice": "Invoice",
        "due": "Due date",
        "open": "Open",
        "status": "Status",
        "overdue": "Overdue ({days} days)",
        "current": "Current",
        "disputed": "Disputed",
        "view_copy": "View copy",
        "pdf": "PDF",
        "none": "You have no open invoices. Thank you!",
        "pay_now": "Pay now",
        "pay_hint": "Pay by card on the payment provider's secure page.",
        "promise": "Promise a payment",
        "promise_date": "Payment date",
        "promise_amount": "Amount",
        "promise_hint": "A date from today to {last}.",
        "dispute": "Dispute an invoice",
        "dispute_invoices": "Invoices disputed",
        "dispute_note": "Tell us what is wrong",
        "dispute_file": "Attachment (PDF, PNG, JPEG or WebP, up to {mb} MB)",
        "plan": "Payment plan",
        "plan_intro": "You can pay {total} in instalments:",
        "plan_option": "{n} instalments",
        "plan_first": "first instalment {amount} on {date}",
        "plan_none": "Your balance does not allow a payment plan; you can promise a payment or pay now.",
        "plan_accept": "Accept this plan",
        "prefs": "Contact preferences",
        "prefs_hint": "Tick the channels you no longer want reminders on.",
        "prefs_save": "Save",
        "send": "Send",
        "back": "Back to the statement",
        "done_promise": "We recorded your promise to pay {amount} on {date}. Thank you.",
        "done_dispute": "We recorded your dispute about {invoices}. A person will review it and reply.",
        "done_plan": "Plan accepted: {n} instalments, the first of {amount} on {date}.",
        "done_prefs": "We will no longer write to you by: {channels}.",
        "done_paid": "Thank you. We received the confirmation of your payment; your statement will update soon.",
        "cancelled": "The payment was not completed. You can try again at any time.",
        "error": "We could not process the form: {reason}",
        "print": "Invoice copy",
        "issued": "Issued",
        "total": "Total",
        "channel_email": "E-mail",
        "channel_whatsapp": "WhatsApp",
        "channel_sms": "SMS",
        "channel_call": "Calls",
    },
    "pt": {
        "title": "Extrato da conta",
        "hello": "Olá, {name}",
        "balance": "Saldo em aberto",
        "invoice": "Fatura",
        "due": "Vencimento",
        "open": "Em aberto",
        "status": "Situação",
        "overdue": "Vencida ({days} dias)",
        "current": "Em dia",
        "disputed": "Em contestação",
        "view_copy": "Ver cópia",
        "pdf": "PDF",
        "none": "Não há faturas em aberto. Obrigado!",
        "pay_now": "Pagar agora",
        "pay_hint": "Pague com cartão na página segura do provedor de pagamentos.",
        "promise": "Prometer um pagamento",
        "promise_date": "Data do pagamento",
        "promise_amount": "Valor",
        "promise_hint": "Uma data entre hoje e {last}.",
        "dispute": "Contestar uma fatura",
        "dispute_invoices": "Faturas contestadas",
        "dispute_note": "Conte-nos o problema",
        "dispute_file": "Anexo (PDF, PNG, JPEG ou WebP, até {mb} MB)",
        "plan": "Plano de pagamento",
        "plan_intro": "Você pode pagar {total} em parcelas:",
        "plan_option": "{n} parcelas",
        "plan_first": "primeira parcela {amount} em {date}",
        "plan_none": "Seu saldo não permite um plano; você pode prometer um pagamento ou pagar agora.",
        "plan_accept": "Aceitar este plano",
        "prefs": "Preferências de contato",
        "prefs_hint": "Marque os canais pelos quais não quer mais receber lembretes.",
        "prefs_save": "Salvar",
        "send": "Enviar",
        "back": "Voltar ao extrato",
        "done_promise": "Registramos sua promessa de pagamento de {amount} em {date}. Obrigado.",
        "done_dispute": "Registramos sua contestação sobre {invoices}. Uma pessoa vai analisá-la e responder.",
        "done_plan": "Plano aceito: {n} parcelas, a primeira de {amount} em {date}.",
        "done_prefs": "Não enviaremos mais mensagens por: {channels}.",
        "done_paid": "Obrigado. Recebemos a confirmação do pagamento; seu extrato será atualizado em breve.",
        "cancelled": "O pagamento não foi concluído. Você pode tentar de novo quando quiser.",
        "error": "Não foi possível processar o formulário: {reason}",
        "print": "Cópia da fatura",
        "issued": "Emitida",
        "total": "Total",
        "channel_email": "E-mail",
        "channel_whatsapp": "WhatsApp",
        "channel_sms": "SMS",
        "channel_call": "Ligações",
    },
}


class Formatter:
    """Words and formatting for one customer: language (es/en/pt with the templates' fallback) and locale."""

    def __init__(self, language: str | None, country: str | None) -> None:
        self.language, _ = resolve_language(language, country)
        self.locale = resolve_locale(self.language, country)
        self.text = TEXT[self.language]

    def t(self, key: str, **values: object) -> str:
        """A phrase with its placeholders filled (values are data, inserted as text)."""
        return self.text[key].format(**values) if values else self.text[key]

    def money(self, amount: Decimal, currency: str) -> str:
        """An amount in the customer's locale."""
        return money(amount, currency, self.locale)

    def date(self, value: date) -> str:
        """A date in the customer's locale (medium format)."""
        return format_date(value, format="medium", locale=self.locale)
