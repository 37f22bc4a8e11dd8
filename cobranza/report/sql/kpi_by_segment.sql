-- KPI mart rows per segment (all countries and currencies), or per segment within one country:
-- the basis of the segment comparison charts (CEI, % overdue, DSO by segment).
select *
from marts.mart_collections_kpis
where segment <> 'all'
  and country = coalesce($country, 'all')
  and (currency = 'all' or $country is not null)
  and (currency <> 'all' or $country is null)
order by segment
