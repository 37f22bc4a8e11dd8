"""The transparent rules that come before the classifier: opt-out, legal threat or complaint, dispute.

These three intents must never be answered as something else (an opt-out read as a promise would
keep writing to someone who said stop; a dispute read as a paid claim would keep dunning an invoice
the customer contests; a legal threat answered by a bot is a liability). So they are gated by
phrase rules with high recall, read on the sender's own words (``ml.inbound.text.clean_body``, so a
quoted reminder's "Responda STOP" or "evite acciones legales" does not count), folded (lower case,
no accents). Precedence: opt-out > legal/complaint > dispute. A collector reads why a message was
gated in ``Reading.evidence`` and fixes a wrong one by editing a list here.

Opt-outs are read by :func:`ml.inbound.optouts.read_opt_out` (the one definition of "STOP" in a
reply). Legal: regulators and consumer bodies (PROFECO, CONDUSEF, SIC/Superintendencia, Defensa del
Consumidor, SERNAC, INDECOPI, OCU/consumo, Procon, Reclame Aqui, consumidor.gov, DECO, livro de
reclamações, CFPB, BBB, FTC, attorney general, Financial Ombudsman, Trading Standards), lawyers
(abogado, advogado, lawyer, attorney, solicitor, jurídico), lawsuits and formal complaints.
Dispute: the invoice, amount or goods contested (not recognised, wrong, duplicated, damaged, never
received, returned, cancelled, discount not applied).
"""

# ruff: noqa: E501 - phrase patterns read best one per line, whatever their length

from __future__ import annotations

import re
from dataclasses import dataclass

from ml.inbound.optouts import read_opt_out


@dataclass(frozen=True)
class RuleHit:
    """A gated intent and the phrase that decided it."""

    intent: str
    matched: str


_LEGAL = [
    # regulators and consumer bodies
    r"\bprofeco\b", r"\bcondusef\b", r"\bsic\b", r"\bsuperintendencia\b", r"\bsuperfinanciera\b",
    r"\bdefensa (del|al|de los) consumidor", r"\bsernac\b", r"\bindecopi\b", r"\bprocon\b",
    r"\breclame ?aqui\b", r"\bconsumidor\.gov", r"\bdeco\b", r"\blivro de reclamac", r"\bhoja de reclamac",
    r"\bante consumo\b", r"\bocu\b", r"\bomic\b", r"\bcfpb\b", r"\bbbb\b", r"\bbetter business bureau\b",
    r"\bftc\b", r"\battorney general\b", r"\bombudsman\b", r"\btrading standards\b", r"\bfinancial conduct\b",
    r"\bbanco central\b", r"\bbacen\b",
    # lawyers
    r"\babogad[oa]s?\b", r"\badvogad[oa]s?\b", r"\blawyers?\b", r"\battorneys?\b", r"\bsolicitors?\b",
    r"\b(departamento|area|nuestro|nuestra|nosso|nossa|setor) (de )?juridic", r"\bjuridico\b",
    r"\brepresentante legal\b", r"\blegal (department|team|counsel|representative)\b",
    # lawsuits, formal complaints, harassment
    r"\b(los|les|lo|la|te) (voy a|vamos a) demandar\b", r"\bdemandar(los|les|lo|la)?\b", r"\buna demanda\b",
    r"\bdemanda (judicial|civil)\b", r"\bprocess(ar|o|aremos) (voces|vcs|a empresa|judicial)",
    r"\bprocessar\b", r"\bprocesso judicial\b", r"\bproceso judicial\b", r"\bjuicio\b", r"\btribunal\w*",
    r"\b(entrar|ir) na justica\b", r"\bjudicial(mente)?\b", r"\bjudiciais\b",
    r"\bsue\b", r"\bsuing\b", r"\blawsuit\b", r"\bsmall claims\b", r"\bcourt\b",
    r"\b(accion|acciones|medidas|providencias|legal|legales|juridicas) (legal|legales|judicial|judiciales|legais|action)",
    r"\blegal action\b", r"\bcease and desist\b", r"\btomar (providencias|medidas) legais\b",
    r"\bdenunci\w*", r"\b(queja|queixa|reclamo|reclamacion|reclamacao) formal\b",
    r"\b(poner|pondre|presentar|presentare|interponer|hacer|registrar|abrir|apresentar) (una |uma |mi |minha )?"
    r"(queja|queixa|reclamo|reclamacao|reclamacion|denuncia)",
    r"\bformal complaint\b", r"\b(file|filing|make|lodge|raise) a complaint\b", r"\bcomplaint with\b",
    r"\b(acoso|acosando|acosar|hostigamiento|assedio|harass\w*)\b",
    r"\b(ilegal|illegal|unlawful)\b", r"\bcobranca abusiva\b", r"\bcobro abusivo\b", r"\babusiv[oa]s?\b",
    r"\breportar(los|les)? a\b", r"\breporting (you|this) to\b", r"\breport(ing)? you\b",
    r"\b(supervisor|gerente|manager|superior)\b.{0,40}\b(respeto|pesim|pessim|disgrace|terrible|awful|queja)",
    r"\b(falta de respeto|pesimo (trato|servicio|atencion)|atendimento .{0,20}pessimo|disgraceful)\b",
    r"\b(exijo|quero|quiero|let me|i want to) (hablar|falar|speak) (con|com|to) (un|o|el|a) "
    r"(supervisor|gerente|manager)",
]  # fmt: skip
_DISPUTE = [
    # es
    r"\bno (lo |la )?reconoc\w*", r"\bno reconozco\b", r"\bno es mi[ao]\b", r"\bno son mi[ao]s\b",
    r"\bnunca (compre|compramos|pedi|pedimos|recibi|recibimos|llego|nos llego|me llego|contrate)\b",
    r"\bno (recibimos|recibi|nos llego|me llego|llego) (el |la |los |las |ningun |nunca )?(producto|mercaderia|mercancia|pedido|servicio|equipo|envio|material|entrega|piezas)",
    r"\b(llego|vino|vinieron|llegaron|esta|estan|venia) (averiad|danad|rot[oa]|defectuos|incomplet|en mal estado|mal)\w*",
    r"\b(averiad|defectuos|danad)[oa]s?\b", r"\bincomplet[oa]\b",
    r"\b(cobraron|cobran|cobrando|facturaron|cobrado|facturado) (de mas|dos veces|doble|mal|un producto)",
    r"\bfactura(s)? (esta |estan )?(duplicad|repetid)", r"\b(esta|estan) (duplicad|equivocad|incorrect|errone)\w*", r"\bduplicaron\b", r"\bno coincide\b",
    r"\bno corresponde\b", r"\b(esta|estan) mal (facturad|cobrad|calculad|hech)", r"\bmal facturad",
    r"\b(monto|importe|precio|valor|cantidad|total|iva|cobro|saldo) (facturad[oa] )?(esta |es )?(mal|incorrect|equivocad|errone|erroneo)\w*",
    r"\b(factura|facturas|cuenta) (esta |es )?(mal|incorrecta|equivocada|erronea)\b",
    r"\berror en (la factura|el iva|el monto|el importe|el precio|la cuenta|el cobro)\b", r"\bun error\b",
    r"\bdesacuerdo\b", r"\bno (estamos|estoy) (conformes?|de acuerdo) con\b", r"\bimpugn\w*",
    r"\b(anulamos|cancelamos|anule|cancele) (el|ese|este|la|esa) (pedido|orden|compra|servicio)",
    r"\b(pedido|orden|compra) (fue )?(anulad|cancelad)", r"\bdevolvimos\b", r"\bdevolvi\b",
    r"\bno (se )?(presto|entrego|realizo) el servicio\b", r"\bservicio no se (presto|realizo|entrego)\b",
    r"\bno (lo |la )?pedi\b", r"\bque no pedi\b", r"\bno (lo |la )?(debo|debemos)\b",
    r"\bdescuento (pactado|acordado|que acordamos)? ?no (esta |fue )?aplicad", r"\bno (esta|fue) aplicad[oa] el descuento",
    r"\bno es (el|lo) que (arreglamos|acordamos|pactamos|habiamos)", r"\bhabiamos acordado otro",
    r"\bfaltan (piezas|productos|unidades|items|cosas)\b", r"\bfactura corregida\b", r"\bcargo que no\b",
    r"\bno vamos a pagar hasta\b", r"\bno voy a pagar (nada )?hasta\b", r"\bcobro indebido\b", r"\bintereses?\b.{0,30}\bno\b.{0,10}\bcorresponde",
    # pt
    r"\bnao reconhec\w*", r"\bnunca (recebi|recebemos|comprei|compramos|pedi|pedimos|contratei)\b",
    r"\bnao (recebi|recebemos) (a |o |as |os |essa |esse |nenhuma? )?(mercadoria|produto|pedido|pecas|servico|material|entrega|encomenda)",
    r"\b(veio|vieram|chegou|chegaram|esta|estao) (com defeito|quebrad|danificad|avariad|errad|incomplet)\w*",
    r"\bdefeito\b", r"\bcobr(aram|ando|ou|am) a mais\b", r"\bcobranca indevida\b",
    r"\b(fatura|nota|cobranca) (esta |ta |veio )?duplicad", r"\bnao bate\b",
    r"\b(nota|fatura|cobranca|valor|boleto|preco|conta|total|iva|quantidade)( fiscal)? (ta |esta |veio |e |foi )?(errad|incorret)\w*",
    r"\bnao concord\w*", r"\bcontest\w*", r"\bdevolvemos\b", r"\bdevolvi\b",
    r"\b(pedido|servico|compra) (foi )?cancelad", r"\bnao (foi )?prestad", r"\bnao contratei\b",
    r"\bdesconto (combinado )?nao (foi )?aplicad", r"\bo combinado (foi|era) outro\b", r"\bnao devemos\b",
    r"\bcorrijam\b", r"\b(um |uma )?erro (na|no) (fatura|nota|valor|iva|boleto)\b",
    # en
    r"\b(don'?t|do not|dont) recogni[sz]e\b", r"\bnever (got|received|ordered|arrived|delivered|signed)\b(?! (a |the |an |your |any )?(copy|invoice|bill|statement|email|e-mail))",
    r"\b(arrived|came|was|were) (damaged|broken|faulty|defective|incomplete)\b", r"\b(damaged|defective|faulty)\b",
    r"\bovercharg\w*", r"\b(billed|charged|invoiced) (us |me )?(twice|double)\b", r"\bdouble[- ](billed|charged)\b",
    r"\b(doesn'?t|does not|don'?t|do not) match\b",
    r"\b(invoice|amount|price|charge|vat|total|bill|quantity)( on [\w-]+)? (is |was |are )?(wrong|incorrect)\b",
    r"\bthis is wrong\b", r"\bthat'?s wrong\b", r"\bis wrong\b", r"\bdisput\w*", r"\bnot what (we|i) (agreed|ordered)\b",
    r"\breturned (the |all the |our )?(items|goods|order|products|shipment)\b",
    r"\b(order|service|contract) (was )?(cancel+ed|never delivered|never provided)\b", r"\bnever delivered\b",
    r"\bdiscount (isn'?t|is not|wasn'?t|was not) applied\b", r"\bcorrected invoice\b", r"\bfix it\b",
    r"\b(i|we) don'?t owe\b", r"\bnot paying (an|this|that) invoice\b", r"\bnot paying until\b",
]  # fmt: skip
#: One alternation per intent: a single scan finds the leftmost phrase.
_LEGAL_RE = re.compile("|".join(f"(?:{p})" for p in _LEGAL))
_DISPUTE_RE = re.compile("|".join(f"(?:{p})" for p in _DISPUTE))


def gated_intent(body: str, folded: str) -> RuleHit | None:
    """The gated intent a message's own words carry, if any (opt-out > legal/complaint > dispute).

    Args:
        body: The sender's own words (``clean_body``).
        folded: The same, folded (``ml.inbound.text.fold``).
    """
    if (opt_out := read_opt_out(body)) is not None:
        return RuleHit("opt_out", opt_out.matched)
    if m := _LEGAL_RE.search(folded):
        return RuleHit("legal_or_complaint", m[0])
    if m := _DISPUTE_RE.search(folded):
        return RuleHit("dispute", m[0])
    return None
