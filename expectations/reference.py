"""Reference code lists and formats the quality gates check values against.

Plain constants, no Great Expectations import: ISO 3166-1 alpha-2 country codes, ISO 4217 currency
codes, IANA time zones and the regular expressions for E.164 phone numbers and e-mail addresses.
The code lists are written out rather than read from a library so that a suite means the same thing
on every machine; ``tests/expectations`` cross-checks them against Babel's CLDR data.
"""

from __future__ import annotations

import zoneinfo
from datetime import date

#: ISO 3166-1 alpha-2, all 249 officially assigned codes (ISO 3166 Maintenance Agency).
ISO_3166_ALPHA2: frozenset[str] = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()
)

#: ISO 4217 codes an invoice or bank line may carry: the currencies in use (funds such as CLF,
#: MXV or COU included, since Latin American contracts are written in them; precious metals, SDR
#: and test codes excluded) plus codes withdrawn since 2023 that still appear in a two-year history.
ISO_4217: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN
    BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH
    UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    ANG BGN HRK SLL ZWL
    """.split()
)

#: E.164: a plus sign, a country code not starting with 0, at most 15 digits in all.
E164_REGEX = r"^\+[1-9]\d{6,14}$"

#: Deliberately loose: one ``@``, no spaces, a dotted domain. It catches "n/a", "juan@" and
#: pasted names; whether a mailbox exists is for the SMTP bounce to tell.
EMAIL_REGEX = r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$"

#: ISO 20022 CreditDebitCode.
CREDIT_DEBIT_CODES: tuple[str, ...] = ("CRDT", "DBIT")

#: Dates before this are ERP placeholders (1900-01-01, 1970-01-01), not business dates.
DATE_FLOOR = date(2000, 1, 1)


def iana_timezones() -> frozenset[str]:
    """Return the IANA time-zone names this Python knows (from the system or ``tzdata``).

    Returns:
        The set of zone keys such as ``America/Mexico_City``; empty if no zone data is installed,
        in which case callers skip the time-zone check rather than fail every row.
    """
    return frozenset(zoneinfo.available_timezones())
