-- The KPI mart's row for the report's scope: segment and country ('all' when not filtered) and the
-- currency roll-up ('all'), or the single currency of a country when the report is for a country.
-- One row per run date x segment x country x currency in marts.mart_collections_kpis (dbt).
select *
from marts.mart_collections_kpis
where segment = coalesce($segment, 'all')
  and country = coalesce($country, 'all')
  and (currency = 'all' or $country is not null)
  and (currency <> 'all' or $country is null)
order by currency
