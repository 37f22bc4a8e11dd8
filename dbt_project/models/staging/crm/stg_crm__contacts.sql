-- One row per CRM contact: the latest version, emails lower-cased.
with source as (
    select * from {{ source('raw_crm', 'contacts') }}
    -- records the raw quality gate quarantined are left out (macros/quarantine.sql)
    where {{ not_quarantined('raw_crm.contacts', 'contact_id') }}
),

latest as (
    {{ first_row_per('source', 'contact_id', 'updated_at desc, _loaded_at desc') }}
),

final as (
    select
        contact_id,
        customer_id,
        full_name,
        lower(role) as role,
        lower(trim(email)) as email,
        phone,
        lower(language) as language,
        timezone,
        consent_email,
        consent_whatsapp,
        consent_sms,
        consent_call,
        lower(preferred_channel) as preferred_channel,
        preferred_hour,
        updated_at
    from latest
)

select * from final
