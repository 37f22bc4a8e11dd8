{#
    Incremental models of the heavy chain (issue 19). A daily run recomputes only the keys whose
    inputs may have changed since the last run, found by a look-back window on the inputs' own
    business dates (var incremental_lookback_days, default 7, longer than the sources' lateness:
    bank statements re-send the last 5 days), plus the records the raw gate quarantined. A model
    deletes those keys (pre-hook `delete_recomputed`) and appends them recomputed from the whole
    history (incremental_strategy 'append'), so a key whose rows vanished loses them, and the table
    is what a full build gives. The base change sets are small tables built first in every run
    (models/intermediate/changes: bank lines, invoices, interaction customers), so the staging
    views they scan are read once, not once per use; a model using one declares it with a
    `-- depends_on:` comment (its ref sits in an is_incremental() branch dbt does not parse). Data that lands later than the window (or a quarantined record
    released older than it) reaches these models at the next `--full-refresh` (weekly, or
    `cobranza run --full-refresh`). A run for an earlier date than the last one needs a full refresh.
    Each set is a select of keys, usable in `key in (...)` on DuckDB and PostgreSQL.
#}

{#- The first business date the look-back window covers. -#}
{% macro lookback_start() -%}
    {{ add_days(as_of_date(), -1 * var('incremental_lookback_days', 7)) }}
{%- endmacro %}

{#- Pre-hook: on an incremental run, delete the keys the model is about to recompute. -#}
{% macro delete_recomputed(key, keys_sql) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ key }} in ({{ keys_sql }})
    {%- endif -%}
{%- endmacro %}

{#- Records of `table_name` the raw gate quarantined, as values of `column` of that raw table. -#}
{% macro quarantined_values(table_name, key, column) -%}
    select {{ column }} from {{ source(table_name.split('.')[0], table_name.split('.')[1]) }}
    where {{ key }} in (
        select record_key from {{ source('quarantine', 'raw_excluded') }} where table_name = '{{ table_name }}'
    )
{%- endmacro %}

{#- Bank credit lines booked in the window (statements re-send recent days; lines never change). -#}
{% macro changed_bank_lines_sql() -%}
    select bank_txn_id, counterparty_iban from {{ ref('int_bank_credits_booked') }}
    where booking_date >= {{ lookback_start() }}
{%- endmacro %}
{% macro changed_bank_lines() -%}
    select bank_txn_id from {{ ref('int_changed_bank_lines') }}
{%- endmacro %}

{#-
    Invoices whose settlement or due amount may have changed: a new ERP version (updated_at is
    the instant of the last visible change) or issue, an allocation recorded, a credit note issued
    or changed, or one of these records quarantined.
-#}
{% macro changed_invoices() -%}
    select invoice_id from {{ ref('int_changed_invoices') }}
{%- endmacro %}
{% macro changed_invoices_sql() -%}
    select invoice_id from {{ ref('stg_erp__invoices') }}
    where cast(updated_at as date) >= {{ lookback_start() }} or issue_date >= {{ lookback_start() }}
    union
    select invoice_id from {{ ref('stg_erp__payment_allocations') }} where recorded_date >= {{ lookback_start() }}
    union
    select invoice_id from {{ ref('stg_erp__credit_notes') }}
    where invoice_id is not null
        and (issue_date >= {{ lookback_start() }} or cast(updated_at as date) >= {{ lookback_start() }})
    union
    select record_key from {{ source('quarantine', 'raw_excluded') }} where table_name = 'raw_erp.invoices'
    union
    {{ quarantined_values('raw_erp.payment_allocations', 'allocation_id', 'invoice_id') }}
    union
    {{ quarantined_values('raw_erp.credit_notes', 'credit_note_id', 'invoice_id') }}
{%- endmacro %}

{#-
    Bank lines whose structured-reference match may have changed: lines in the window, lines quoting
    the reference of a changed invoice, and lines `matched` (the model's table) to a changed invoice.
-#}
{% macro changed_reference_lines(matched) -%}
    {{ changed_bank_lines() }}
    union
    select credits.bank_txn_id
    from {{ ref('int_bank_credits_booked') }} as credits
    inner join {{ ref('stg_erp__invoices') }} as invoices
        on credits.creditor_reference = upper(replace(invoices.payment_reference, ' ', ''))
        and credits.currency = invoices.currency
    where invoices.invoice_id in ({{ changed_invoices() }})
    {%- if is_incremental() %}
    union
    select bank_txn_id from {{ matched }} where invoice_id in ({{ changed_invoices() }})
    {%- endif %}
{%- endmacro %}

{#-
    Payer accounts whose learned links may have changed: the accounts of bank lines in the window,
    of lines the ERP reconciled in the window (or whose reconciliation was quarantined), of lines
    whose reference match changed, and of lines quoting the number of a changed invoice.
-#}
{% macro changed_payer_accounts() -%}
    select counterparty_iban from {{ ref('int_bank_credits_booked') }}
    where counterparty_iban is not null and bank_txn_id in (
        {{ changed_reference_lines(ref('int_bank_credits_matched_by_reference')) | indent(8) }}
        union
        select bank_txn_id from {{ ref('stg_erp__payment_allocations') }}
        where bank_txn_id is not null and recorded_date >= {{ lookback_start() }}
        union
        {{ quarantined_values('raw_erp.payment_allocations', 'allocation_id', 'bank_txn_id') }}
        union
        select tokens.bank_txn_id
        from {{ ref('int_bank_credits_tokenised') }} as tokens
        inner join {{ ref('stg_erp__invoices') }} as invoices
            on tokens.token_key = {{ number_key('invoices.invoice_number') }}
        where invoices.invoice_id in ({{ changed_invoices() }})
    )
{%- endmacro %}

{#-
    Customers whose interaction thread may have changed: a CRM interaction, a contact task, a task
    event or an agent decision in the window, or a quarantined CRM interaction.
-#}
{% macro changed_interaction_customers() -%}
    select customer_id from {{ ref('int_changed_interaction_customers') }}
{%- endmacro %}
{% macro changed_interaction_customers_sql() -%}
    select customer_id from {{ ref('stg_crm__interactions') }} where occurred_date >= {{ lookback_start() }}
    union
    select customer_id from {{ ref('stg_outbox__contact_tasks') }} where decision_date >= {{ lookback_start() }}
    union
    select tasks.customer_id
    from {{ ref('stg_outbox__task_events') }} as events
    inner join {{ ref('stg_outbox__contact_tasks') }} as tasks using (task_id)
    where cast(events.event_at as date) >= {{ lookback_start() }}
    union
    select customer_id from {{ ref('stg_agent__decisions') }} where occurred_date >= {{ lookback_start() }}
    union
    select customer_id from {{ source('quarantine', 'raw_excluded') }}
    where table_name = 'raw_crm.interactions' and customer_id is not null
{%- endmacro %}
