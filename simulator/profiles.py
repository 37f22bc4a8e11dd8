"""Scale profiles and country reference data for the synthetic AR world (DESIGN.md §8).

Two kinds of "profile" live here:

* scale profiles ``S`` / ``M`` / ``L`` (1k / 20k / 200k customers, about ten invoices per customer
  a year), the sizes the benchmarks and the daily run are measured on;
* country profiles for the seven markets the simulator covers (MX, CO, ES, CL, PE, AR, US): ISO 4217
  currency and its practical minor unit, real cities with their IANA time zones, language, legal-form
  suffixes, rough FX scale against USD, bank account formats, and pools of valid E.164 phone
  prefixes derived from Google's libphonenumber metadata (the ``phonenumbers`` package).

Everything here is static data or a pure function of it, so the world generator stays deterministic.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType


@dataclass(frozen=True)
class ScaleProfile:
    """A named world size.

    Attributes:
        name: Profile code (``S``, ``M``, ``L``).
        n_customers: Number of bill-to customers over the simulated horizon.
        invoice_number_width: Zero-padded width of the per-year sequence in invoice numbers.
    """

    name: str
    n_customers: int
    invoice_number_width: int


PROFILES: dict[str, ScaleProfile] = {
    "S": ScaleProfile("S", 1_000, 6),
    "M": ScaleProfile("M", 20_000, 6),
    "L": ScaleProfile("L", 200_000, 7),
}


def get_profile(name: str) -> ScaleProfile:
    """Return the scale profile called ``name``.

    Args:
        name: ``S``, ``M`` or ``L`` (case-insensitive).

    Raises:
        ValueError: If the profile is unknown.
    """
    try:
        return PROFILES[name.upper()]
    except KeyError:
        raise ValueError(f"unknown simulator profile {name!r}; choose one of {', '.join(PROFILES)}") from None


@dataclass(frozen=True)
class Country:
    """Reference data for one market.

    Attributes:
        code: ISO 3166-1 alpha-2 code.
        currency: ISO 4217 invoicing currency.
        whole_units: True when invoices are issued in whole currency units (CLP, COP in practice).
        usd_rate: Rough units of ``currency`` per USD, only to scale invoice amounts.
        weight: Share of customers in this market.
        cities: ``(city, IANA time zone, relative weight)`` triples.
        legal_suffixes: Company legal-form suffixes.
        tld: Top-level domain used for company e-mail domains.
        language: Main business language of the market.
        account_digits: Length of the national bank account identifier (0 = IBAN).
    """

    code: str
    currency: str
    whole_units: bool
    usd_rate: float
    weight: float
    cities: tuple[tuple[str, str, float], ...]
    legal_suffixes: tuple[str, ...]
    tld: str
    language: str
    account_digits: int


COUNTRIES: tuple[Country, ...] = (
    Country(
        "MX",
        "MXN",
        False,
        18.0,
        0.30,
        (
            ("Ciudad de México", "America/Mexico_City", 0.40),
            ("Guadalajara", "America/Mexico_City", 0.14),
            ("Puebla", "America/Mexico_City", 0.06),
            ("Monterrey", "America/Monterrey", 0.16),
            ("Tijuana", "America/Tijuana", 0.07),
            ("Mérida", "America/Merida", 0.05),
            ("Hermosillo", "America/Hermosillo", 0.04),
            ("Chihuahua", "America/Chihuahua", 0.04),
            ("Cancún", "America/Cancun", 0.04),
        ),
        ("S.A. de C.V.", "S. de R.L. de C.V.", "S.A.P.I. de C.V."),
        "com.mx",
        "es",
        18,
    ),
    Country(
        "CO",
        "COP",
        True,
        4000.0,
        0.15,
        (
            ("Bogotá", "America/Bogota", 0.45),
            ("Medellín", "America/Bogota", 0.25),
            ("Cali", "America/Bogota", 0.15),
            ("Barranquilla", "America/Bogota", 0.15),
        ),
        ("S.A.S.", "S.A.", "Ltda."),
        "com.co",
        "es",
        11,
    ),
    Country(
        "ES",
        "EUR",
        False,
        0.92,
        0.15,
        (
            ("Madrid", "Europe/Madrid", 0.35),
            ("Barcelona", "Europe/Madrid", 0.30),
            ("Valencia", "Europe/Madrid", 0.12),
            ("Sevilla", "Europe/Madrid", 0.10),
            ("Bilbao", "Europe/Madrid", 0.08),
            ("Las Palmas de Gran Canaria", "Atlantic/Canary", 0.05),
        ),
        ("S.L.", "S.A."),
        "es",
        "es",
        0,
    ),
    Country(
        "CL",
        "CLP",
        True,
        930.0,
        0.10,
        (
            ("Santiago", "America/Santiago", 0.65),
            ("Valparaíso", "America/Santiago", 0.12),
            ("Concepción", "America/Santiago", 0.12),
            ("Antofagasta", "America/Santiago", 0.07),
            ("Punta Arenas", "America/Punta_Arenas", 0.04),
        ),
        ("SpA", "S.A.", "Ltda."),
        "cl",
        "es",
        12,
    ),
    Country(
        "PE",
        "PEN",
        False,
        3.75,
        0.10,
        (
            ("Lima", "America/Lima", 0.75),
            ("Arequipa", "America/Lima", 0.15),
            ("Trujillo", "America/Lima", 0.10),
        ),
        ("S.A.C.", "S.A.", "E.I.R.L."),
        "com.pe",
        "es",
        20,
    ),
    Country(
        "AR",
        "ARS",
        False,
        900.0,
        0.08,
        (
            ("Buenos Aires", "America/Argentina/Buenos_Aires", 0.60),
            ("Córdoba", "America/Argentina/Cordoba", 0.15),
            ("Rosario", "America/Argentina/Cordoba", 0.12),
            ("Mendoza", "America/Argentina/Mendoza", 0.08),
            ("Salta", "America/Argentina/Salta", 0.05),
        ),
        ("S.A.", "S.R.L.", "S.A.S."),
        "com.ar",
        "es",
        22,
    ),
    Country(
        "US",
        "USD",
        False,
        1.0,
        0.12,
        (
            ("New York", "America/New_York", 0.22),
            ("Miami", "America/New_York", 0.14),
            ("Chicago", "America/Chicago", 0.14),
            ("Houston", "America/Chicago", 0.14),
            ("Denver", "America/Denver", 0.08),
            ("Phoenix", "America/Phoenix", 0.08),
            ("Los Angeles", "America/Los_Angeles", 0.12),
            ("Seattle", "America/Los_Angeles", 0.08),
        ),
        ("Inc.", "LLC", "Corp."),
        "com",
        "en",
        12,
    ),
)

COUNTRY_CODES: tuple[str, ...] = tuple(c.code for c in COUNTRIES)

# Flattened city table: one row per (country, city); customers index into it.
CITY_COUNTRY: np.ndarray = np.array([i for i, c in enumerate(COUNTRIES) for _ in c.cities], dtype=np.int16)
CITY_NAMES: tuple[str, ...] = tuple(city for c in COUNTRIES for city, _, _ in c.cities)
CITY_TZ: tuple[str, ...] = tuple(tz for c in COUNTRIES for _, tz, _ in c.cities)
CITY_WEIGHT: np.ndarray = np.array([w for c in COUNTRIES for _, _, w in c.cities], dtype=np.float64)

SEGMENTS: tuple[str, ...] = ("enterprise", "mid_market", "smb")
SEGMENT_WEIGHTS = np.array([0.10, 0.30, 0.60])
# Invoices per year (mean), median invoice in USD, payment terms offered (days) per segment.
SEGMENT_INVOICES_PER_YEAR = np.array([24.0, 12.0, 7.0])
SEGMENT_MEDIAN_USD = np.array([20_000.0, 5_000.0, 1_200.0])
SEGMENT_TERMS: tuple[tuple[int, ...], ...] = ((60, 90, 45), (30, 45, 60), (30, 45))
SEGMENT_TERMS_P: tuple[tuple[float, ...], ...] = ((0.5, 0.3, 0.2), (0.4, 0.35, 0.25), (0.7, 0.3))

LATENT_CLASSES: tuple[str, ...] = ("on_time", "slightly_late", "chronic", "deteriorating", "defaulting")
LATENT_CLASS_WEIGHTS = np.array([0.40, 0.30, 0.13, 0.10, 0.07])

CHANNELS: tuple[str, ...] = ("email", "whatsapp", "sms", "call")
# Mean response propensity per channel by country (index aligned with COUNTRIES): WhatsApp dominates
# Latin American B2B conversations, e-mail Spain and the US.
CHANNEL_BASE = np.array(
    [
        [0.20, 0.45, 0.10, 0.30],  # MX
        [0.20, 0.45, 0.10, 0.30],  # CO
        [0.35, 0.20, 0.08, 0.30],  # ES
        [0.25, 0.40, 0.10, 0.30],  # CL
        [0.20, 0.45, 0.10, 0.30],  # PE
        [0.22, 0.45, 0.08, 0.30],  # AR
        [0.40, 0.08, 0.12, 0.35],  # US
    ]
)

DISPUTE_REASONS: tuple[str, ...] = (
    "price",
    "quantity",
    "quality",
    "not_received",
    "duplicate_billing",
    "other",
)
# Dispute reasons that are typically settled with a credit note.
DISPUTE_REASONS_CREDITED = np.array([True, True, True, False, True, False])

COMPANY_TYPES_ES: tuple[str, ...] = (
    "Distribuidora",
    "Comercializadora",
    "Grupo",
    "Industrias",
    "Servicios",
    "Logística",
    "Transportes",
    "Alimentos",
    "Constructora",
    "Farmacéutica",
    "Textiles",
    "Importadora",
    "Tecnologías",
    "Agroindustrial",
    "Suministros",
    "Metalúrgica",
    "Papelera",
    "Química",
    "Ferretería",
    "Consultores",
)
COMPANY_TYPES_EN: tuple[str, ...] = (
    "Distribution",
    "Supply",
    "Industries",
    "Logistics",
    "Foods",
    "Manufacturing",
    "Technologies",
    "Services",
    "Holdings",
    "Materials",
    "Trading",
    "Solutions",
    "Packaging",
    "Chemicals",
    "Systems",
    "Freight",
    "Builders",
    "Medical",
    "Paper",
    "Partners",
)
COMPANY_ROOTS_ES: tuple[str, ...] = (
    "Andina",
    "del Pacífico",
    "Aurora",
    "Horizonte",
    "del Valle",
    "Sierra Madre",
    "Atlas",
    "Cóndor",
    "Quetzal",
    "Los Álamos",
    "del Sur",
    "Boreal",
    "Integral",
    "Continental",
    "Nova",
    "Altiplano",
    "Mediterránea",
    "Ibérica",
    "del Norte",
    "Austral",
    "Patagonia",
    "Caribe",
    "Cordillera",
    "Monteverde",
    "Río Bravo",
    "Santa Fe",
    "San Martín",
    "La Estrella",
    "El Roble",
    "Tres Ríos",
    "Alianza",
    "Prisma",
    "Vértice",
    "Orbe",
    "Sigma",
    "Zenit",
    "Delta",
    "Omega",
    "Fénix",
    "Solaris",
)
COMPANY_ROOTS_EN: tuple[str, ...] = (
    "Summit",
    "Lakeside",
    "Pioneer",
    "Redwood",
    "Liberty",
    "Granite",
    "Harbor",
    "Evergreen",
    "Keystone",
    "Frontier",
    "Silverline",
    "Northwind",
    "Bluewater",
    "Ironbridge",
    "Cedar",
    "Atlas",
    "Meridian",
    "Crescent",
    "Sterling",
    "Apex",
)
# Optional trailing qualifiers that make company names more distinct.
COMPANY_QUALIFIERS_ES: tuple[str, ...] = (
    "Internacional",
    "Global",
    "Hermanos",
    "y Asociados",
    "del Centro",
    "Express",
    "Industrial",
    "Comercial",
    "Nacional",
    "Premium",
    "Digital",
    "Corporativo",
)
COMPANY_QUALIFIERS_EN: tuple[str, ...] = (
    "International",
    "Global",
    "Brothers",
    "& Associates",
    "Group",
    "Express",
    "Industrial",
    "Direct",
    "National",
    "Premier",
    "Digital",
    "Worldwide",
)
SURNAMES_ES: tuple[str, ...] = (
    "García",
    "Hernández",
    "López",
    "Martínez",
    "González",
    "Rodríguez",
    "Pérez",
    "Sánchez",
    "Ramírez",
    "Torres",
    "Flores",
    "Rivera",
    "Gómez",
    "Díaz",
    "Reyes",
    "Morales",
    "Cruz",
    "Ortiz",
    "Castillo",
    "Vargas",
    "Romero",
    "Jiménez",
    "Ruiz",
    "Mendoza",
    "Aguilar",
    "Navarro",
    "Rojas",
    "Castro",
    "Silva",
    "Muñoz",
)
SURNAMES_EN: tuple[str, ...] = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Martin",
    "Jackson",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
)
SURNAMES_PT: tuple[str, ...] = (
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Pereira",
    "Costa",
    "Carvalho",
    "Almeida",
    "Ferreira",
    "Ribeiro",
)
FIRST_NAMES_ES: tuple[str, ...] = (
    "María",
    "José",
    "Juan",
    "Ana",
    "Luis",
    "Carmen",
    "Carlos",
    "Laura",
    "Jorge",
    "Sofía",
    "Miguel",
    "Lucía",
    "Alejandro",
    "Valentina",
    "Fernando",
    "Gabriela",
    "Ricardo",
    "Daniela",
    "Andrés",
    "Paula",
    "Javier",
    "Camila",
    "Diego",
    "Isabel",
)
FIRST_NAMES_EN: tuple[str, ...] = (
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Susan",
    "Richard",
    "Jessica",
    "Karen",
    "Daniel",
)
FIRST_NAMES_PT: tuple[str, ...] = (
    "João",
    "Maria",
    "Pedro",
    "Ana",
    "Lucas",
    "Beatriz",
    "Gabriel",
    "Mariana",
    "Rafael",
    "Fernanda",
)
# Generic accounts-payable mailbox local parts, by language.
AP_MAILBOXES: dict[str, tuple[str, ...]] = {
    "es": ("cuentasporpagar", "pagos", "tesoreria", "facturacion"),
    "en": ("ap", "accountspayable", "payables", "billing"),
    "pt": ("contasapagar", "financeiro"),
}

# Third parties that sometimes pay on a customer's behalf (factoring, parent treasury, payment hubs).
THIRD_PARTY_PAYERS: tuple[str, ...] = (
    "Factoring Latam S.A.",
    "Tesorería Corporativa Holding",
    "Pagos Integrales SpA",
    "Confirming BBVA",
    "Global Payables Center LLC",
    "Shared Services Treasury",
)
SUPPLIER_NAMES: tuple[str, ...] = (
    "Arrendamientos Corporativos S.A.",
    "Energía del Centro",
    "Telecomunicaciones Globales",
    "Servicios de Limpieza Brillante",
    "Papelería Universal",
    "Cloud Hosting Services Inc.",
    "Seguros La Previsora",
    "Transportes Rápidos",
)
DEBIT_TEXTS: tuple[str, ...] = (
    "PAGO PROVEEDOR",
    "TRANSFERENCIA SALIENTE",
    "PAGO SERVICIOS",
    "DOMICILIACION RECIBO",
    "PAGO NOMINA",
)

# Free-text prefixes payers put before an invoice number, and "no useful reference" texts.
REMITTANCE_PREFIXES: tuple[str, ...] = (
    "",
    "Pago factura ",
    "PAGO FACTURA ",
    "Pago fact. ",
    "PAGO FRA ",
    "Payment invoice ",
    "Abono ",
    "Transferencia ",
)
REMITTANCE_MULTI_PREFIXES: tuple[str, ...] = ("Pago facturas ", "PAGO FACTS ", "Payment invoices ", "")
REMITTANCE_MISSING: tuple[str, ...] = (
    "PAGO PROVEEDORES",
    "TRANSFERENCIA",
    "Pago",
    "PAYMENT",
    "SPEI RECIBIDO",
    "TRANSF. INTERBANCARIA",
)


PHONE_SUFFIX_DIGITS = 5


def _e164_ok(e164: str, region: str, wanted: tuple[int, ...]) -> bool:
    cc = phonenumbers.country_code_for_region(region)
    num = phonenumbers.PhoneNumber(country_code=cc, national_number=int(e164[len(str(cc)) + 1 :]))
    # number_type() is UNKNOWN for invalid numbers; the region check matters for +1 (US vs Canada)
    return phonenumbers.number_type(num) in wanted and phonenumbers.region_code_for_number(num) == region


@functools.cache
def phone_prefix_pool(country: str, mobile: bool, size: int = 64) -> tuple[str, ...]:
    """Return E.164 prefixes (all but the last ``PHONE_SUFFIX_DIGITS`` digits) that yield valid numbers.

    Starting from libphonenumber's example number for the region and type, digits after the first
    national digit are varied and each candidate prefix is kept only if several random
    endings all parse as valid numbers of the wanted type. The search uses a fixed generator, so the
    pool is the same on every run.

    Args:
        country: ISO 3166-1 alpha-2 region code.
        mobile: Mobile numbers if True, fixed-line otherwise.
        size: Maximum number of prefixes to return.

    Returns:
        Sorted tuple of distinct prefixes such as ``+5222212``.
    """
    ptype = PhoneNumberType.MOBILE if mobile else PhoneNumberType.FIXED_LINE
    wanted = (ptype, PhoneNumberType.FIXED_LINE_OR_MOBILE)
    example = phonenumbers.example_number_for_type(country, ptype)
    e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
    cc_len = len(str(example.country_code)) + 1
    # Keep the country code and the leading national digits that carry the number type (AR mobiles
    # start with 9, then the area code).
    keep = cc_len + (2 if country == "AR" and mobile else 1)
    base = e164[:-PHONE_SUFFIX_DIGITS]
    rng = np.random.default_rng(11649)
    found: set[str] = set()

    def ok(prefix: str) -> bool:
        # every leading digit of the free part, plus random endings: libphonenumber's ranges are
        # prefix-based, so a prefix that passes these is valid for any ending in practice
        rest = rng.integers(0, 10 ** (PHONE_SUFFIX_DIGITS - 1), size=12)
        endings = [f"{d}{int(r):0{PHONE_SUFFIX_DIGITS - 1}d}" for d, r in zip(range(10), rest, strict=False)]
        endings += [f"{int(r):0{PHONE_SUFFIX_DIGITS}d}" for r in rest[10:]]
        return all(_e164_ok(prefix + e, country, wanted) for e in endings)

    if ok(base):
        found.add(base)
    for _ in range(20 * size):
        if len(found) >= size:
            break
        digits = list(base)
        for pos in range(keep, len(base)):
            if rng.random() < 0.5:
                digits[pos] = str(rng.integers(0, 10))
        cand = "".join(digits)
        if cand in found:
            continue
        if _e164_ok(cand + "0" * PHONE_SUFFIX_DIGITS, country, wanted) and ok(cand):
            found.add(cand)
    if not found:  # pragma: no cover - libphonenumber always has an example for these regions
        raise RuntimeError(f"no valid phone prefix found for {country} mobile={mobile}")
    return tuple(sorted(found))
