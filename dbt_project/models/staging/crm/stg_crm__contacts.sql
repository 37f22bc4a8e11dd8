-- One row per CRM contact: the latest version, emails lower-cased.
with source as (
    select * from {{ source('raw_crm', 'contacts') }}
),

latest as (
    select *
    from source
    qualify row_number() over (partition by contact_id order by updated_at desc, _loaded_at desc) = 1
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
